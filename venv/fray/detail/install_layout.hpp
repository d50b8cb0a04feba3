// Where fray's own files (fray-child-guard, fray-job-supervisor,
// fray_worker.py) are for this process, found from where fray's code itself
// is, never from a path of the machine fray was built on: an installed fray
// keeps working when its prefix is moved (DESTDIR staging, relocation), and
// a build tree finds its freshly built files.
//
// The module holding fray's code (libfray.so, or the program fray is linked
// into) is looked up with dladdr, else /proc/self/exe. Then:
//   - installed: the module is in <prefix>/<libdir>, <prefix>/<bindir> or
//     <prefix>/<libexecdir>/fray, so the prefix is that directory without
//     the install directory's tail;
//   - a build tree: the nearest directory above the module holding
//     meson-private/ is a Meson build root, and fray's part of it is there
//     (at the top, or under subprojects/ when fray is a subproject).
// FRAY_PREFIX, when set, names a prefix tried first (for a program linked
// with the static library that lives outside fray's prefix).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace fray::detail {

// One of fray's files: where it is under the install prefix, and where in
// fray's build tree (both relative).
struct FrayFile {
  std::string_view installed;
  std::string_view built;
};

// Every place `file` may be, in the order to try: FRAY_PREFIX's, the install
// prefix's, the build tree's. None exists when fray is neither installed
// nor run from its build tree (the caller's error names them all).
std::vector<std::filesystem::path> fray_file_candidates(const FrayFile& file);

// For an error message, after "fray's X program ": "is not in A, B or C",
// or, with no candidates, "was not found (MODULE is neither ...)".
std::string not_found_in(const std::vector<std::filesystem::path>& candidates);

}  // namespace fray::detail
