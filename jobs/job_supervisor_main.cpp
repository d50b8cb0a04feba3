#include <cstdio>
#include <cstring>

#include "fray/detail/job_supervisor.hpp"

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "supervise") == 0) return fray::detail::supervise_job(false);
  if (argc == 3 && std::strcmp(argv[1], "spare") == 0) return fray::detail::supervise_job(true);
  if (argc == 3 && std::strcmp(argv[1], "call") == 0) return fray::detail::call_python_replica(argv[2]);
  std::fprintf(stderr,
               "fray-job-supervisor runs one job of fray's local cluster; fray starts it.\n"
               "usage: fray-job-supervisor supervise | spare JOBS_DIR | call RESULT_FILE (input on stdin)\n");
  return 2;
}
