#include "fray/detail/worker_script.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "fray/python_errors.hpp"

#ifndef FRAY_WORKER_SOURCE_PATH
#error "FRAY_WORKER_SOURCE_PATH (pyworker/fray_worker.py in the source tree) must be defined by the build"
#endif
#ifndef FRAY_WORKER_INSTALL_PATH
#error "FRAY_WORKER_INSTALL_PATH (share/fray/fray_worker.py under the prefix) must be defined by the build"
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
  for (const char* candidate : {FRAY_WORKER_SOURCE_PATH, FRAY_WORKER_INSTALL_PATH}) {
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  throw WorkerProgramNotFound(fmt::format("fray's Python worker program is in neither {} nor {}; set FRAY_WORKER_SCRIPT "
                                          "to its path",
                                          FRAY_WORKER_SOURCE_PATH, FRAY_WORKER_INSTALL_PATH));
}

}  // namespace fray::detail
