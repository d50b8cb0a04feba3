#include "fray/detail/child_launch.hpp"

#include <boost/process/v2/posix/default_launcher.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/start_dir.hpp>
#include <boost/process/v2/stdio.hpp>
#include <fmt/format.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "fray/detail/posix_fd.hpp"
#include "fray/venv_errors.hpp"

namespace fray::detail {

namespace asio = boost::asio;
namespace bp = boost::process::v2;

namespace {

// Closes every descriptor not in `keep`, in the child (async-signal-safe).
// Boost 1.81 closes only those above the highest one kept: an off-by-one
// skips the gaps, where a descriptor the program opened without O_CLOEXEC
// would leak into the child.
void close_all_but(const std::vector<int>& keep) noexcept {
  int low = 0;
  for (;;) {
    int next = INT_MAX;  // the lowest kept descriptor at or above `low`
    for (int fd : keep) {
      if (fd >= low && fd < next) next = fd;
    }
    if (next > low) ::syscall(SYS_close_range, unsigned(low), unsigned(next - 1), 0u);
    if (next == INT_MAX) return;
    low = next + 1;
  }
}

// Runs in the child between fork and exec: async-signal-safe calls only.
struct ChildSetup {
  pid_t parent;
  int terminal;
  const std::vector<int>* inherited;

  bp::error_code on_exec_setup(bp::posix::default_launcher& launcher, const bp::filesystem::path&,
                               const char* const*) const {
    if (::setpgid(0, 0) == -1) return {errno, boost::system::system_category()};
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) == -1) return {errno, boost::system::system_category()};
    // The parent died before prctl: nobody would kill us.
    if (::getppid() != parent) return {ESRCH, boost::system::system_category()};
    if (terminal >= 0) ::tcsetpgrp(terminal, ::getpid());
    for (int fd : *inherited) {
      if (::fcntl(fd, F_SETFD, 0) == -1) return {errno, boost::system::system_category()};
    }
    close_all_but(launcher.fd_whitelist);
    // Dispositions the launching thread's program may have changed; handled
    // signals reset on exec by themselves, ignored ones would not.
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGCHLD}) ::sigaction(sig, &default_action, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    return {};
  }
  // Boost 1.81's launcher calls exit() when exec fails, which would run this
  // program's atexit handlers and static destructors in the child. Leave at
  // once instead (the parent already has errno through its pipe). Variadic:
  // Boost detects this hook with one argument list and calls it with another.
  template <class... Args>
  void on_exec_error(Args&&...) const {
    ::_exit(127);
  }
};

// Boost.Process calls notify_fork on the context it launches with, in the
// child too, where a mutex another thread held at fork time would deadlock.
// A context only this thread ever touches cannot be in that state.
asio::io_context& launch_context() {
  thread_local asio::io_context context{1};
  return context;
}

int pidfd_open(pid_t pid) noexcept {
#if defined(SYS_pidfd_open)
  return int(::syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

// errno from the child says what failed, not which step: name the likely one.
std::string launch_failure(const ChildLaunch& child, const bp::error_code& error) {
  std::error_code ec;
  if (child.cwd && !std::filesystem::is_directory(*child.cwd, ec)) {
    return fmt::format("cannot start {}: its working directory {} does not exist", child.executable.string(),
                       child.cwd->string());
  }
  return fmt::format("cannot start {}: {}", child.executable.string(), error.message());
}

}  // namespace

pid_t launch_child(const ChildLaunch& child) {
  std::vector<const char*> env;
  env.reserve(child.env.size() + 1);
  for (const auto& entry : child.env) env.push_back(entry.c_str());
  env.push_back(nullptr);

  bp::posix::default_launcher launcher;
  launcher.env = env.data();
  launcher.fd_whitelist.insert(launcher.fd_whitelist.end(), child.inherited.begin(), child.inherited.end());
  const ChildSetup setup{::getpid(), child.terminal, &child.inherited};
  bp::process_stdio stdio{child.stdin_fd, child.stdout_fd, child.stderr_fd};
  const bp::filesystem::path exe(child.executable.string());
  bp::error_code error;
  // The executor overload: Boost 1.81's io_context overload drops the
  // error_code and throws instead.
  auto executor = launch_context().get_executor();
  auto process = child.cwd ? launcher(executor, error, exe, child.args, stdio,
                                      bp::process_start_dir(bp::filesystem::path(child.cwd->string())), setup)
                           : launcher(executor, error, exe, child.args, stdio, setup);
  if (error) {
    // The child exited on its own: reap it.
    if (launcher.pid > 0) {
      while (::waitpid(launcher.pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    throw ProcessLaunchFailed(launch_failure(child, error));
  }
  const pid_t pid = process.id();
  process.detach();  // the caller reaps it, after killing what it left behind
  return pid;
}

int kill_group_and_reap(pid_t pid) noexcept {
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

void ChildExitWatch::start(pid_t pid, std::function<void()> on_exit) {
  pid_ = pid;
  const int fd = pidfd_open(pid);
  if (fd < 0) {
    on_exit_ = std::move(on_exit);
    poll();
    return;
  }
  pidfd_ = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  pidfd_->async_wait(asio::posix::stream_descriptor::wait_read,
                     [on_exit = std::move(on_exit)](const boost::system::error_code& error) {
                       if (error != asio::error::operation_aborted) on_exit();
                     });
}

// Kernels before 5.3 have no pidfd: look without reaping, every 5 ms.
void ChildExitWatch::poll() {
  siginfo_t info{};
  if (::waitid(P_PID, id_t(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_) {
    std::exchange(on_exit_, nullptr)();
    return;
  }
  poll_.expires_after(std::chrono::milliseconds(5));
  poll_.async_wait([this](const boost::system::error_code& error) {
    if (!error && on_exit_) poll();
  });
}

void ChildExitWatch::stop() noexcept {
  boost::system::error_code ignored;
  if (pidfd_) pidfd_->close(ignored);
  poll_.cancel();
  on_exit_ = nullptr;
}

std::vector<int> collect_descendants(pid_t root) {
  std::unordered_multimap<int, int> children;
  if (DIR* proc = ::opendir("/proc")) {
    while (const dirent* entry = ::readdir(proc)) {
      const char* name = entry->d_name;
      if (name[0] < '0' || name[0] > '9') continue;
      char path[300];
      std::snprintf(path, sizeof path, "/proc/%s/stat", name);
      const int fd = open_cloexec(path, O_RDONLY);
      if (fd < 0) continue;
      char text[512];
      const ssize_t n = ::read(fd, text, sizeof text - 1);
      ::close(fd);
      if (n <= 0) continue;
      text[n] = '\0';
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const char* close_paren = std::strrchr(text, ')');
      if (close_paren == nullptr) continue;
      char state = 0;
      int ppid = 0;
      if (std::sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) continue;
      children.emplace(ppid, std::atoi(name));
    }
    ::closedir(proc);
  }
  std::vector<int> found;
  std::vector<int> frontier{root};
  while (!frontier.empty()) {
    const int parent = frontier.back();
    frontier.pop_back();
    auto [first, last] = children.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      if (std::find(found.begin(), found.end(), it->second) != found.end()) continue;
      found.push_back(it->second);
      frontier.push_back(it->second);
    }
  }
  return found;
}

void signal_group_and(pid_t group, const std::vector<int>& others, int sig) noexcept {
  if (group > 0) ::kill(-group, sig);
  for (int pid : others) {
    ::kill(pid, sig);
    // A descendant that made its own group takes that group along.
    if (::getpgid(pid) == pid) ::kill(-pid, sig);
  }
}

}  // namespace fray::detail
