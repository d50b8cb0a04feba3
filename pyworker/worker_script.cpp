#include "fray/detail/worker_script.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "fray/detail/install_layout.hpp"
#include "fray/python_errors.hpp"

#ifndef FRAY_WORKER_BUILT
#error "FRAY_WORKER_BUILT (fray_worker.py's copy in fray's build tree, relative) must be defined by the build"
#endif
#ifndef FRAY_WORKER_INSTALLED
#error "FRAY_WORKER_INSTALLED (share/fray/fray_worker.py, relative to the prefix) must be defined by the build"
#endif

namespace fray::detail {

std::string worker_script_path() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const char* configured = std::getenv("FRAY_WORKER_SCRIPT"); configured != nullptr && *configured != '\0') {
    if (!fs::is_regular_file(configured, ec)) {
      throw WorkerProgramNotFound(fmt::format("FRAY_WORKER_SCRIPT={} is not a file", configured));
    }
    return fs::absolute(configured, ec).string();
  }
  const auto candidates = fray_file_candidates(FrayFile{FRAY_WORKER_INSTALLED, FRAY_WORKER_BUILT});
  for (const fs::path& candidate : candidates) {
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
  }
  throw WorkerProgramNotFound(fmt::format("fray's Python worker program {}; set FRAY_WORKER_SCRIPT to its path (or "
                                          "FRAY_PREFIX to fray's install prefix)",
                                          not_found_in(candidates)));
}

}  // namespace fray::detail
