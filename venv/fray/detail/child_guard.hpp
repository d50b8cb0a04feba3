// The child guard: a small program (fray-child-guard) that every fray child
// runs under, so that everything the child starts goes when fray stops it or
// when the driver dies, whatever it did (its own process group, its own
// session, a double fork).
//
// The driver starts the guard (posix_spawn: no copy of the driver's page
// tables, so the cost does not grow with the driver's memory); the guard
// makes itself a child subreaper (PR_SET_CHILD_SUBREAPER: every orphan
// below it is re-parented to it, not to init), arms PR_SET_PDEATHSIG, and
// waits on its control socket for the one child it is to start (a guard
// can be started ahead, as a spare, before the child is known). It starts
// the child in a process group of its own, reports, and then waits:
//   - the child exits: the guard kills whatever is left below it (SIGKILL),
//     reaps it all, and exits with the child's own status (the same exit
//     code, or the same signal);
//   - `stop_signal` from the driver: SIGTERM to every process below it,
//     each once; from then on the child's exit does not end the others,
//     which keep their grace until they exit or `kill_signal` comes;
//   - `kill_signal` from the driver, or the driver's death (the PDEATHSIG):
//     SIGKILL to every process below it, reap, exit.
// An idle guard exits on `kill_signal` from the driver, or when the driver
// closes the socket; the driver also SIGKILLs idle guards it retires (they
// have no tree to orphan).
// Signals from anyone else are ignored: `kill` or `pkill` of the guard
// does not tear down the child's tree (its command line is its own, not the
// child's, so `pkill -f` aimed at the child does not match it).
// The guard never takes SIGKILL from fray: it would orphan the tree.
//
// Its command line (see child_launch.cpp, which is the only caller):
//   fray-child-guard PROTOCOL_VERSION DRIVER_PID
// with its end of a SOCK_STREAM control socket at descriptor `control_fd`.
// On it the driver sends one Request, with the request's descriptors
// attached (SCM_RIGHTS), then `payload_bytes` of NUL-terminated words: the
// working directory (empty: the one passed as `cwd_index`), the child's argv
// (argv[0] is the executable's absolute path), the child's environment. The
// guard answers with one Report (Step::started, or the step that failed).
// A single-use guard then ends as described above, with the child's status.
// A reusable one, whose child ends on its own with nothing left behind and
// that nobody asked to stop, reports Step::exited with the child's status
// and waits for another request (fray keeps such guards for the next runs,
// so a run costs no guard start); one that was stopped or killed ends as a
// single-use guard does. The driver never reuses a guard it has signalled
// (a signal still in flight would hit the next child). A guard whose driver
// closes the socket while it is idle exits quietly.
#pragma once

#include <csignal>
#include <cstdint>

namespace fray::detail::child_guard {

// Bumped on any change to what the driver and the guard exchange: a guard
// from another fray build refuses to run (Step::setup, EPROTO).
inline constexpr int protocol_version = 3;
inline constexpr int control_fd = 3;
inline constexpr int max_fds = 64;
inline constexpr std::uint32_t max_payload_bytes = 64u << 20;

// Real-time signals (glibc's SIGRTMIN is 34): they queue, each with its
// sender, so a stranger's copy pending in the guard cannot swallow the
// driver's as a second standard signal would.
inline constexpr int stop_signal = 40;
inline constexpr int kill_signal = 41;

// targets[i] for a descriptor that is for the guard alone, not the child.
inline constexpr std::int32_t guard_only = -1;

struct Request {
  std::int32_t version;
  std::uint32_t payload_bytes;
  std::uint32_t arg_count;  // words of argv, argv[0] included
  std::uint32_t env_count;
  std::int32_t fd_count;    // descriptors attached
  std::int32_t terminal;    // index of the terminal whose foreground the child's group becomes, or -1
  std::int32_t cwd_index;   // index of a directory descriptor to start in when the cwd word is empty, or -1
  std::int32_t reusable;    // 1: report the child's end (Step::exited) and wait for another request
  std::int32_t targets[max_fds];  // the number each descriptor has in the child, or guard_only
};

enum class Step : std::int32_t {
  started = 0,  // value: the child's pid
  setup,        // value: errno of the guard's own setup (prctl, a bad request: EPROTO)
  chdir,        // value: errno of chdir(CWD)
  exec,         // value: errno of execve(EXECUTABLE)
  exited,       // value: the child's wait status; the guard is idle again (reusable requests only)
};

struct Report {
  Step step;
  std::int32_t value;
};

}  // namespace fray::detail::child_guard
