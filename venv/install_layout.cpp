#include "fray/detail/install_layout.hpp"

#include <dlfcn.h>
#include <link.h>

#include <cstdlib>
#include <iterator>
#include <optional>
#include <system_error>

#ifndef FRAY_INSTALL_DIRS
#error "FRAY_INSTALL_DIRS (where fray installs code, relative to the prefix) must be defined by the build"
#endif
#ifndef FRAY_BUILD_SUBDIR
#error "FRAY_BUILD_SUBDIR (fray's build root under the top Meson build root) must be defined by the build"
#endif

namespace fray::detail {

namespace fs = std::filesystem;

namespace {

// Its address names the module fray's code was linked into.
void module_marker() {}

fs::path canonical_or_same(const fs::path& path) {
  std::error_code ec;
  fs::path resolved = fs::canonical(path, ec);
  return ec ? path : resolved;
}

// libfray.so when fray is a shared library, else the program itself (whose
// link map entry has no name: /proc/self/exe is its file).
fs::path module_file() {
  Dl_info info{};
  link_map* map = nullptr;
  if (::dladdr1(reinterpret_cast<void*>(&module_marker), &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) != 0 &&
      map != nullptr && map->l_name != nullptr && *map->l_name != '\0') {
    return canonical_or_same(map->l_name);
  }
  return canonical_or_same("/proc/self/exe");
}

// `dir` without `tail` (both as path components), if it ends with it.
std::optional<fs::path> strip_tail(const fs::path& dir, const fs::path& tail) {
  if (tail.empty() || tail.is_absolute()) return std::nullopt;
  std::vector<fs::path> parts(dir.begin(), dir.end()), tail_parts(tail.begin(), tail.end());
  if (tail_parts.size() >= parts.size()) return std::nullopt;
  for (std::size_t i = 0; i < tail_parts.size(); ++i) {
    if (parts[parts.size() - tail_parts.size() + i] != tail_parts[i]) return std::nullopt;
  }
  fs::path prefix;
  for (std::size_t i = 0; i + tail_parts.size() < parts.size(); ++i) prefix /= parts[i];
  return prefix;
}

std::vector<fs::path> install_prefixes(const fs::path& module_dir) {
  std::vector<fs::path> prefixes;
  for (const char* install_dir : {FRAY_INSTALL_DIRS}) {
    if (auto prefix = strip_tail(module_dir, install_dir)) prefixes.push_back(*prefix);
  }
  return prefixes;
}

std::optional<fs::path> build_root(const fs::path& module_dir) {
  std::error_code ec;
  for (fs::path dir = module_dir; !dir.empty(); dir = dir.parent_path()) {
    if (fs::is_directory(dir / "meson-private", ec)) return dir / FRAY_BUILD_SUBDIR;
    if (dir == dir.root_path()) break;
  }
  return std::nullopt;
}

std::string install_dirs_text() {
  std::string text;
  const char* dirs[] = {FRAY_INSTALL_DIRS};
  for (std::size_t i = 0; i < std::size(dirs); ++i) {
    if (i > 0) text += i + 1 == std::size(dirs) ? " or " : ", ";
    text += dirs[i];
  }
  return text;
}

struct Locations {
  std::vector<fs::path> prefixes;
  std::optional<fs::path> build_root;
};

const Locations& locations() {
  // Never destroyed: helpers are looked up while the program exits, too.
  static const Locations& found = *new Locations([] {
    const fs::path module_dir = module_file().parent_path();
    return Locations{install_prefixes(module_dir), build_root(module_dir)};
  }());
  return found;
}

}  // namespace

std::vector<fs::path> fray_file_candidates(const FrayFile& file) {
  std::vector<fs::path> candidates;
  if (const char* prefix = std::getenv("FRAY_PREFIX"); prefix != nullptr && *prefix != '\0') {
    candidates.push_back(fs::path(prefix) / file.installed);
  }
  for (const fs::path& prefix : locations().prefixes) candidates.push_back(prefix / file.installed);
  if (locations().build_root) candidates.push_back(*locations().build_root / file.built);
  return candidates;
}

std::string not_found_in(const std::vector<fs::path>& candidates) {
  if (candidates.empty()) {
    return "was not found (" + module_file().string() + " is neither in an install prefix's " +
           install_dirs_text() + " nor in a Meson build tree)";
  }
  std::string text = "is not in ";
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (i > 0) text += i + 1 == candidates.size() ? " or " : ", ";
    text += candidates[i].string();
  }
  return text;
}

}  // namespace fray::detail
