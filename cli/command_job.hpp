// `fray job`: submit, call, status, logs, wait, stop, list and gc jobs on a
// cluster (the local one, or the one --cluster / FRAY_CLUSTER_SPEC names):
// the Ray habits `ray job submit -- ...`, `ray job logs -f`, `ray job stop`.
#pragma once

#include "command_line.hpp"

namespace fray::cli {

int command_job(ArgReader args);

}  // namespace fray::cli
