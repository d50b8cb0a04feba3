// A driver for process_tree_tests.cpp, killed there with SIGKILL: opens a
// plain env of /usr/bin/python3 in CACHE_DIR, then either runs `sh SCRIPT
// PIDS_FILE TOKEN` with env.run (MODE run), or calls
// fray_tree_probe:start_tree(PIDS_FILE, TOKEN) in a Python worker whose
// working directory is WORKDIR (MODE worker; WORKDIR holds
// fray_tree_probe.py). Both start grandchildren that write "KIND PID" lines
// to PIDS_FILE, after "child PID" (the run's process, or the worker). Then
// the driver waits to be killed.
//
//   process_tree_driver CACHE_DIR run    SCRIPT  PIDS_FILE TOKEN
//   process_tree_driver CACHE_DIR worker WORKDIR PIDS_FILE TOKEN
#include <fray/python.hpp>
#include <fray/venv.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc != 6) return 2;
  // If the test process dies first, this driver goes too (and the test's
  // own cleanup kills what it started); the alarm is a last resort, so a
  // driver is never left waiting forever.
  const pid_t test_process = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != test_process) return 5;
  ::alarm(300);

  const std::string cache = argv[1], mode = argv[2], where = argv[3], pids_file = argv[4], token = argv[5];
  fray::IsolatedVirtualEnv env(fray::VenvOptions{}.with_python("/usr/bin/python3").with_cache_dir(cache));
  if (mode == "run") {
    auto running = env.run({"sh", where, pids_file, token},
                           fray::RunOptions{}.with_stdout(fray::Output::discard).with_stderr(fray::Output::discard));
    for (;;) ::pause();
  }
  if (mode == "worker") {
    fray::WorkerPool pool(env, fray::WorkerPoolOptions{}.with_max_workers(1).with_cwd(where).with_log_sink(
                                   [](const fray::WorkerLogLine&) {}));
    pool.call<int>("fray_tree_probe:start_tree", pids_file, token).get();
    for (;;) ::pause();
  }
  return 2;
}
