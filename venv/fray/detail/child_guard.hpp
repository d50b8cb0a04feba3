// The child guard: a small program (fray-child-guard) that every fray child
// runs under, so that everything the child starts goes when fray stops it or
// when the driver dies, whatever it did (its own process group, its own
// session, a double fork).
//
// The driver starts the guard (posix_spawn: no copy of the driver's page
// tables, so the cost does not grow with the driver's memory); the guard
// makes itself a child subreaper (PR_SET_CHILD_SUBREAPER: every orphan
// below it is re-parented to it, not to init), arms PR_SET_PDEATHSIG, and
// starts the real child in a process group of its own. Then it waits:
//   - the child exits: the guard kills whatever is left below it (SIGKILL),
//     reaps it all, and exits with the child's own status (the same exit
//     code, or the same signal);
//   - `stop_signal` from the driver: SIGTERM to every process below it;
//   - `kill_signal` from the driver, or the driver's death (the PDEATHSIG):
//     SIGKILL to every process below it, reap, exit.
// The guard never takes SIGKILL from fray: it would orphan the tree.
//
// Its command line (see child_launch.cpp, which is the only caller):
//   fray-child-guard DRIVER_PID REPORT_FD TERMINAL_FD KEEP_FDS CWD EXECUTABLE [ARG...]
// KEEP_FDS is a comma-separated list (or empty) of descriptors the child
// keeps under the same numbers, CWD is empty for "stay". The child's argv[0]
// is EXECUTABLE and its environment is the guard's own (the driver passes the
// child's whole environment). On REPORT_FD the guard writes one Report, then
// closes it.
#pragma once

#include <csignal>
#include <cstdint>

namespace fray::detail::child_guard {

inline constexpr int stop_signal = SIGTERM;
inline constexpr int kill_signal = SIGUSR1;

enum class Step : std::int32_t {
  started = 0,  // value: the child's pid
  setup,        // value: errno of the guard's own setup (prctl, tcsetpgrp)
  chdir,        // value: errno of chdir(CWD)
  exec,         // value: errno of execve(EXECUTABLE)
};

struct Report {
  Step step;
  std::int32_t value;
};

}  // namespace fray::detail::child_guard
