#include "fray/detail/child_launch.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

#include "fray/detail/child_guard.hpp"
#include "fray/detail/posix_fd.hpp"
#include "fray/venv_errors.hpp"

#ifndef FRAY_CHILD_GUARD_BUILD_PATH
#error "FRAY_CHILD_GUARD_BUILD_PATH (fray-child-guard in the build tree) must be defined by the build"
#endif
#ifndef FRAY_CHILD_GUARD_INSTALL_PATH
#error "FRAY_CHILD_GUARD_INSTALL_PATH (libexec/fray/fray-child-guard under the prefix) must be defined by the build"
#endif

namespace fray::detail {

namespace asio = boost::asio;

namespace {

bool is_executable_file(const char* path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && ::access(path, X_OK) == 0;
}

std::optional<std::string> find_child_guard() {
  if (const char* configured = std::getenv("FRAY_CHILD_GUARD"); configured != nullptr && *configured != '\0') {
    if (!is_executable_file(configured)) return std::nullopt;
    std::error_code ec;
    return std::filesystem::absolute(configured, ec).string();
  }
  for (const char* candidate : {FRAY_CHILD_GUARD_BUILD_PATH, FRAY_CHILD_GUARD_INSTALL_PATH}) {
    if (is_executable_file(candidate)) return std::string(candidate);
  }
  return std::nullopt;
}

// The guard's descriptors for one launch, all closed on the way out.
struct SpawnFiles {
  posix_spawn_file_actions_t actions;
  SpawnFiles() { posix_spawn_file_actions_init(&actions); }
  ~SpawnFiles() { posix_spawn_file_actions_destroy(&actions); }
  // `fd` becomes `target` in the guard; a descriptor onto itself loses
  // O_CLOEXEC there, so it reaches the child.
  void give(int fd, int target) {
    if (const int error = posix_spawn_file_actions_adddup2(&actions, fd, target)) {
      throw ProcessLaunchFailed(fmt::format("cannot prepare a child's descriptors: {}", std::strerror(error)));
    }
  }
};

struct SpawnAttributes {
  posix_spawnattr_t attr;
  SpawnAttributes() {
    posix_spawnattr_init(&attr);
    // Every signal blocked (the guard waits for its own with sigwaitinfo)
    // and at its default (an ignored one would stay ignored in the child);
    // a process group of its own, away from the driver's terminal signals.
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &all);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  }
  ~SpawnAttributes() { posix_spawnattr_destroy(&attr); }
};

std::string joined_fds(const std::vector<int>& fds) {
  std::string text;
  for (int fd : fds) {
    if (!text.empty()) text += ',';
    text += std::to_string(fd);
  }
  return text;
}

// The guard's report, read until it arrives or the guard closes the pipe.
std::optional<child_guard::Report> read_report(int fd) {
  child_guard::Report report{};
  std::size_t got = 0;
  while (got < sizeof report) {
    const ssize_t n = ::read(fd, reinterpret_cast<char*>(&report) + got, sizeof report - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    got += std::size_t(n);
  }
  return report;
}

void reap(pid_t pid) noexcept {
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

std::string launch_failure(const ChildLaunch& child, const std::optional<child_guard::Report>& report) {
  const std::string exe = child.executable.string();
  if (!report) return fmt::format("cannot start {}: its child guard exited before starting it", exe);
  const char* reason = std::strerror(report->value);
  switch (report->step) {
    case child_guard::Step::chdir: {
      std::error_code ec;
      if (!std::filesystem::is_directory(*child.cwd, ec)) {
        return fmt::format("cannot start {}: its working directory {} does not exist", exe, child.cwd->string());
      }
      return fmt::format("cannot start {}: cannot enter its working directory {}: {}", exe, child.cwd->string(),
                         reason);
    }
    case child_guard::Step::setup:
      return fmt::format("cannot start {}: its child guard could not set up: {}", exe, reason);
    case child_guard::Step::exec:
    case child_guard::Step::started:
      break;
  }
  return fmt::format("cannot start {}: {}", exe, reason);
}

int pidfd_open(pid_t pid) noexcept {
#if defined(SYS_pidfd_open)
  return int(::syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace

const std::string& child_guard_path() {
  static const std::optional<std::string> found = find_child_guard();
  if (!found) {
    if (const char* configured = std::getenv("FRAY_CHILD_GUARD"); configured != nullptr && *configured != '\0') {
      throw ProcessLaunchFailed(fmt::format("FRAY_CHILD_GUARD={} is not an executable file", configured));
    }
    throw ProcessLaunchFailed(fmt::format("fray's child guard program is in neither {} nor {}; set FRAY_CHILD_GUARD "
                                          "to its path",
                                          FRAY_CHILD_GUARD_BUILD_PATH, FRAY_CHILD_GUARD_INSTALL_PATH));
  }
  return *found;
}

LaunchedChild launch_child(const ChildLaunch& child) {
  const std::string& guard = child_guard_path();
  int report_pipe[2];
  if (::pipe2(report_pipe, O_CLOEXEC) != 0) {
    throw ProcessLaunchFailed(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
  }
  struct ClosePipe {
    int* ends;
    ~ClosePipe() {
      close_fd(ends[0]);
      close_fd(ends[1]);
    }
  } close_pipe{report_pipe};

  SpawnFiles files;
  files.give(child.stdin_fd, STDIN_FILENO);
  files.give(child.stdout_fd, STDOUT_FILENO);
  files.give(child.stderr_fd, STDERR_FILENO);
  for (int fd : child.inherited) files.give(fd, fd);
  files.give(report_pipe[1], report_pipe[1]);

  std::vector<std::string> words{guard,
                                 std::to_string(::getpid()),
                                 std::to_string(report_pipe[1]),
                                 std::to_string(child.terminal),
                                 joined_fds(child.inherited),
                                 child.cwd ? child.cwd->string() : std::string(),
                                 child.executable.string()};
  words.insert(words.end(), child.args.begin(), child.args.end());
  std::vector<char*> argv;
  argv.reserve(words.size() + 1);
  for (auto& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(child.env.size() + 1);
  for (const auto& entry : child.env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);

  SpawnAttributes attributes;
  pid_t guard_pid = -1;
  if (const int error = ::posix_spawn(&guard_pid, guard.c_str(), &files.actions, &attributes.attr, argv.data(),
                                      envp.data())) {
    throw ProcessLaunchFailed(
        fmt::format("cannot start {}: its child guard {} did not start: {}", child.executable.string(), guard,
                    std::strerror(error)));
  }
  close_fd(report_pipe[1]);  // the guard's copy is the only writer now
  const auto report = read_report(report_pipe[0]);
  if (!report || report->step != child_guard::Step::started) {
    reap(guard_pid);
    throw ProcessLaunchFailed(launch_failure(child, report));
  }
  return LaunchedChild{guard_pid, pid_t(report->value)};
}

void terminate_tree(pid_t guard) noexcept { ::kill(guard, child_guard::stop_signal); }

void kill_tree(pid_t guard) noexcept { ::kill(guard, child_guard::kill_signal); }

int kill_tree_and_reap(pid_t guard) noexcept {
  kill_tree(guard);
  int status = 0;
  while (::waitpid(guard, &status, 0) < 0 && errno == EINTR) {
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

}  // namespace fray::detail
