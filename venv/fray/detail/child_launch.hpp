// Starting a child process the way every fray supervisor does (a
// `venv.run` command, a Python worker, an env build, a job replica): under
// its own child guard (fray/detail/child_guard.hpp), which starts it in a
// process group of its own with PR_SET_PDEATHSIG(SIGKILL), with default
// signal dispositions and an empty signal mask, in `cwd`, with exactly the
// descriptors it is given (stdin, stdout, stderr, plus `inherited` under
// their own numbers) and the environment `env` and nothing else; the guard
// makes sure that everything the child starts goes when fray stops it or
// when the driver dies.
//
// The guard is started with posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK)),
// so the cost does not grow with the driver's memory, and what runs between
// the split and exec is glibc's, which allocates nothing, takes no lock and
// writes nothing the driver reads. The child's descriptors, command line and
// environment go to the guard over a socket; the guard answers with the
// child's pid, or which step failed and its errno. A thread that launches
// often keeps the guards whose children ended on their own
// (keep_idle_guards), so a launch costs one message to an idle guard,
// not a process start. The process thread's idle guards serve every
// thread (share_idle_guards, hand_to_shared_guard): a run starts at once,
// on the caller's thread, and the process thread learns how it went.
//
// The caller owns the guard: it must finish the child (ChildExitWatch tells when).
// The guard's PR_SET_PDEATHSIG follows the launching thread, so launch from
// a thread that lives as long as the program (fray's process and worker
// threads).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/types.h>

namespace fray::detail {

struct ChildLaunch {
  std::filesystem::path executable;  // absolute
  std::vector<std::string> args;     // after argv[0] (argv[0] is the executable)
  std::vector<std::string> env;      // "KEY=VALUE": the child's whole environment
  std::optional<std::filesystem::path> cwd;
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // become 0, 1, 2
  std::vector<int> inherited;  // kept open in the child under the same numbers
  int terminal = -1;           // >= 0: the child's group becomes this terminal's foreground
};

// What a child inherits from its guard rather than from the request, and
// so from the driver as it was when the guard started: a guard started
// before a change of any of these does not serve again. (Nice value, CPU
// affinity and the signal mask are per thread: the launching thread's, as
// for a fresh guard. Not compared: capabilities, securebits, the cgroup,
// chroot, seccomp filters, oom_score_adj.)
struct InheritedSettings {
  uid_t uids[3]{};  // real, effective, saved
  gid_t gids[3]{};
  gid_t groups[64]{};  // supplementary
  int group_count = 0; // -1: more than fit (then not compared)
  int no_new_privs = 0;
  mode_t umask = 0;
  rlimit limits[RLIM_NLIMITS]{};

  static InheritedSettings now() noexcept;
  bool operator==(const InheritedSettings& other) const noexcept;
};

struct LaunchedChild {
  pid_t guard = -1;  // what fray signals, watches and reaps
  pid_t pid = -1;    // the program's own pid (what users see)
  int control = -1;  // >= 0: a reusable guard's socket, where it reports the child's end
  InheritedSettings settings;  // the guard's, to tell whether it may serve again
};

// Starts the child under its guard. Throws ProcessLaunchFailed, with the
// reason, when it cannot be started (nothing is left behind: a guard whose
// child failed to start has been reaped).
LaunchedChild launch_child(const ChildLaunch& child);

// A launch begun on another thread than the process thread: its request,
// built there, and the idle guard of the process thread's
// (share_idle_guards) it was handed to, if one was idle. The caller goes on
// while the guard starts the child, and the process thread learns how that
// went (finish_launch). Dropped before that, it stops the guard and
// whatever the child started.
class PendingLaunch {
 public:
  PendingLaunch(PendingLaunch&& other) noexcept;
  PendingLaunch& operator=(PendingLaunch&&) = delete;
  ~PendingLaunch();
  // A guard has the request: the child may run.
  bool delivered() const noexcept { return delivered_; }

 private:
  PendingLaunch() = default;
  friend PendingLaunch hand_to_shared_guard(const ChildLaunch&);
  friend LaunchedChild finish_launch(PendingLaunch&, const ChildLaunch&);
  pid_t guard_ = -1;  // none: no guard was idle
  int control_ = -1;
  bool delivered_ = false;
  InheritedSettings settings_;
  // The request, for the process thread's launch if no guard took it (or a
  // fresh guard, if the one that did turns out gone).
  std::string words_;
  int start_dir_ = -1;
};

// From any thread: builds the request (the driver's directory is read
// now) and hands it to an idle guard of the process thread's, if one is
// idle and was started with this thread's settings. Throws as
// launch_child does for a bad request.
PendingLaunch hand_to_shared_guard(const ChildLaunch& child);
// On the process thread, with the same `child` (its descriptors still
// open): starts it as launch_child would, with the request built before,
// unless the guard it went to started it already; a fresh guard starts it
// if that one was gone (killed by someone). Throws as launch_child does.
LaunchedChild finish_launch(PendingLaunch& pending, const ChildLaunch& child);

// SIGTERM to every process the child's tree holds, in any group or session.
void terminate_tree(pid_t guard) noexcept;
// SIGKILL to every process the child's tree holds; the guard then exits.
void kill_tree(pid_t guard) noexcept;
// kill_tree, then reaps the guard (which exits once the tree is gone);
// returns its wait status, which is the child's.
int kill_tree_and_reap(pid_t guard) noexcept;

// Once ChildExitWatch said the child ended: its wait status. A guard that
// may serve again goes back to this thread's idle guards, unless fray
// signalled it during this run (`signalled`); any other is reaped. On the
// thread that launched the child.
int finish_child(LaunchedChild& child, bool signalled) noexcept;
// For a child whose owner goes while it runs: kills its tree, reaps the
// guard; returns the child's wait status.
int abandon_child(LaunchedChild& child) noexcept;

// From now on, this thread keeps the guards whose children ended on their
// own, idle, for its next launches. For long-lived
// threads only: an idle guard's PR_SET_PDEATHSIG follows this thread. Its
// launches' children must be finished (finish_child) on it too.
void keep_idle_guards() noexcept;
// keep_idle_guards, and other threads may hand this thread's idle guards
// a child (hand_to_shared_guard). For fray's process thread.
void share_idle_guards() noexcept;

// On a thread that keeps idle guards: starts one now, so that its next
// launch does not wait for a guard to start (a job supervisor started
// ahead does this while it waits for its job). Failing, it does nothing:
// the launch starts its guard as usual.
void start_idle_guard() noexcept;

// Where fray-child-guard is: $FRAY_CHILD_GUARD, else libexec/fray under
// fray's prefix, else fray's build tree (fray/detail/install_layout.hpp).
// Throws ProcessLaunchFailed when it is in none.
const std::string& child_guard_path();

// Calls `on_exit` on `io`'s thread once a child has exited, without reaping
// it (the caller reaps, after killing what it left in its group). Uses a
// pidfd; on kernels without one, polls.
class ChildExitWatch {
 public:
  explicit ChildExitWatch(boost::asio::io_context& io) : io_(io), poll_(io) {}
  ChildExitWatch(const ChildExitWatch&) = delete;
  ~ChildExitWatch() { stop(); }

  // A reusable guard's report on its socket, else the guard's exit.
  void start(const LaunchedChild& child, std::function<void()> on_exit);
  void start(pid_t pid, std::function<void()> on_exit);
  // No call after this; on `io`'s thread.
  void stop() noexcept;

 private:
  void poll();

  boost::asio::io_context& io_;
  boost::asio::steady_timer poll_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> pidfd_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> socket_;  // not owned
  std::function<void()> on_exit_;
  pid_t pid_ = -1;
};

}  // namespace fray::detail
