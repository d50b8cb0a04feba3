// Where fray_worker.py is: FRAY_WORKER_SCRIPT when set, else the installed
// one under <prefix>/share/fray, else the copy in fray's build tree
// (fray/detail/install_layout.hpp says how both are found). Never
// pip-installed: the env's interpreter runs it by path.
#pragma once

#include <string>

namespace fray::detail {

// Throws WorkerProgramNotFound naming every place it looked.
std::string worker_script_path();

}  // namespace fray::detail
