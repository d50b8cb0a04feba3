// Where fray_worker.py is: FRAY_WORKER_SCRIPT when set, else the copy in
// fray's source tree (a build-tree run), else the installed one under
// <prefix>/share/fray. Never pip-installed: the env's interpreter runs it
// by path.
#pragma once

#include <string>

namespace fray::detail {

// Throws WorkerProgramNotFound naming every place it looked.
std::string worker_script_path();

}  // namespace fray::detail
