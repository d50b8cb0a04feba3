// Starting a child process the way every fray supervisor does, through
// Boost.Process v2: in a process group of its own (so a timeout or cancel can
// signal everything it started), with PR_SET_PDEATHSIG(SIGKILL) (so it dies
// with the thread that started it, and with the program), with default
// signal dispositions and an empty signal mask, and with exactly the
// descriptors it is given: stdin, stdout, stderr, plus `inherited` under
// their own numbers. Its environment is `env` and nothing else.
//
// The caller owns the pid: it must reap it (ChildExitWatch tells when).
// PR_SET_PDEATHSIG follows the launching thread, so launch from a thread
// that lives as long as the program (fray's process and worker threads).
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

// Starts the child and returns its pid. Throws ProcessLaunchFailed, with
// the reason, when it cannot be started (nothing is left behind: a child
// that failed to exec has been reaped).
pid_t launch_child(const ChildLaunch& child);

// Every process under `pid` (children, their children...), from /proc.
std::vector<int> collect_descendants(pid_t pid);
// Sends `sig` to process group `group` (when > 0) and to each of `others`,
// with the group each of them leads (a descendant that left the group with
// setsid or setpgid takes its own group along).
void signal_group_and(pid_t group, const std::vector<int>& others, int sig) noexcept;

// Kills what is left in the process group `pid` leads, then reaps `pid`
// (its zombie keeps the group id from being reused until then); returns its
// wait status.
int kill_group_and_reap(pid_t pid) noexcept;

// Calls `on_exit` on `io`'s thread once a child has exited, without reaping
// it (the caller reaps, after killing what it left in its group). Uses a
// pidfd; on kernels without one, polls.
class ChildExitWatch {
 public:
  explicit ChildExitWatch(boost::asio::io_context& io) : io_(io), poll_(io) {}
  ChildExitWatch(const ChildExitWatch&) = delete;
  ~ChildExitWatch() { stop(); }

  void start(pid_t pid, std::function<void()> on_exit);
  // No call after this; on `io`'s thread.
  void stop() noexcept;

 private:
  void poll();

  boost::asio::io_context& io_;
  boost::asio::steady_timer poll_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> pidfd_;
  std::function<void()> on_exit_;
  pid_t pid_ = -1;
};

}  // namespace fray::detail
