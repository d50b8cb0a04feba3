// fray-job-supervisor: the detached process that runs one local job.
//
//   fray-job-supervisor supervise   started by LocalCluster::launch: reads
//       its input (the job, unredacted) on stdin, reports "ok" on fd 3 once
//       the job is recorded and queued, then builds the env, waits for
//       admission, runs the attempts, records the end, and exits.
//   fray-job-supervisor spare JOBS_DIR   started ahead of a launch
//       (supervisor_launch.hpp): the same, once its input comes; its output
//       goes to the input's "supervisor_log" from then on. End of file
//       before any input (the launcher sent it away, or ended): it exits.
//   fray-job-supervisor call RESULT_FILE   one replica of a Python
//       entrypoint: reads the request and the replica's variables on
//       stdin, calls the function in a fray Python worker of the job's env,
//       writes its JSON result to RESULT_FILE.
#pragma once

#include <string>

namespace fray::detail {

// Where fray-job-supervisor is: FRAY_JOB_SUPERVISOR, else libexec/fray
// under fray's prefix, else fray's build tree (fray/detail/install_layout.hpp).
// Throws JobError when it is in none.
const std::string& job_supervisor_path();

// `spare`: started ahead of its job ("spare" above).
int supervise_job(bool spare);
int call_python_replica(const char* result_file);

}  // namespace fray::detail
