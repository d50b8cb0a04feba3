// fray-child-guard: the supervisor every fray child runs under. What it
// does and its command line are in fray/detail/child_guard.hpp. It is its
// own small program, linked statically where the build allows, so starting
// it costs little, and it uses the C library only: it must not depend on
// anything in the environment it passes on to the child.
#include "fray/detail/child_guard.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

using namespace fray::detail::child_guard;

constexpr int kMaxKept = 64;

struct Command {
  pid_t driver = 0;
  int report_fd = -1;
  int terminal = -1;
  int kept[kMaxKept];
  int kept_count = 0;
  const char* cwd = nullptr;  // null: stay
  char** child_argv = nullptr;
};

bool parse_int(const char* text, long& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtol(text, &end, 10);
  return errno == 0 && end != text && *end == '\0';
}

bool parse_kept(const char* text, Command& command) {
  while (*text != '\0') {
    char* end = nullptr;
    const long fd = std::strtol(text, &end, 10);
    if (end == text || fd < 0 || fd > INT_MAX || command.kept_count == kMaxKept) return false;
    command.kept[command.kept_count++] = int(fd);
    text = *end == ',' ? end + 1 : end;
    if (*end != ',' && *end != '\0') return false;
  }
  return true;
}

bool parse_command(int argc, char** argv, Command& command) {
  if (argc < 7) return false;
  long driver = 0, report = 0, terminal = 0;
  if (!parse_int(argv[1], driver) || !parse_int(argv[2], report) || !parse_int(argv[3], terminal)) return false;
  command.driver = pid_t(driver);
  command.report_fd = int(report);
  command.terminal = int(terminal);
  if (!parse_kept(argv[4], command)) return false;
  if (argv[5][0] != '\0') command.cwd = argv[5];
  command.child_argv = argv + 6;
  return true;
}

void report(const Command& command, Step step, int value) {
  const Report message{step, value};
  while (::write(command.report_fd, &message, sizeof message) < 0 && errno == EINTR) {
  }
  ::close(command.report_fd);
}

// Descriptors the driver's program opened without O_CLOEXEC reach us too:
// close all but ours, so neither the guard nor the child holds them.
void close_others(const Command& command) {
  int low = 0;
  for (;;) {
    int next = INT_MAX;  // the lowest kept descriptor at or above `low`
    for (int fd = low; fd <= 2 && next == INT_MAX; ++fd) next = fd;
    for (int i = 0; i < command.kept_count; ++i) {
      if (command.kept[i] >= low && command.kept[i] < next) next = command.kept[i];
    }
    if (command.report_fd >= low && command.report_fd < next) next = command.report_fd;
    if (next > low) ::syscall(SYS_close_range, unsigned(low), unsigned(next - 1), 0u);
    if (next == INT_MAX) return;
    low = next + 1;
  }
}

// The child's side of the split, between vfork and exec: system calls only
// (the guard is suspended until exec, and shares this memory). A failure's
// errno goes through `error_fd` (closed by a successful exec), not through
// shared memory: sanitizers turn vfork into fork.
[[noreturn]] void become_child(const Command& command, int error_fd) {
  if (::setpgid(0, 0) == 0 && ::prctl(PR_SET_PDEATHSIG, SIGKILL) == 0) {
    // Our signals are all blocked, so SIGTTOU cannot stop us here.
    if (command.terminal >= 0) ::tcsetpgrp(command.terminal, ::getpid());
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(command.child_argv[0], command.child_argv, environ);
  }
  const int error = errno;
  while (::write(error_fd, &error, sizeof error) < 0 && errno == EINTR) {
  }
  ::_exit(127);
}

// Starts the child; returns its pid, or -1 with `error` set.
pid_t start_child(const Command& command, int& error) {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) == -1) {
    error = errno;
    return -1;
  }
  const pid_t child = ::vfork();
  if (child == 0) become_child(command, ends[1]);
  error = errno;
  ::close(ends[1]);
  if (child < 0) {
    ::close(ends[0]);
    return -1;
  }
  int child_error = 0;
  ssize_t n;
  while ((n = ::read(ends[0], &child_error, sizeof child_error)) < 0 && errno == EINTR) {
  }
  ::close(ends[0]);
  if (n == ssize_t(sizeof child_error)) {
    ::waitpid(child, nullptr, 0);
    error = child_error;
    return -1;
  }
  return child;
}

// After the child started, the guard holds none of its descriptors: a pipe
// the driver reads must see end-of-file when the child's side closes.
void drop_child_descriptors(const Command& command) {
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd <= 2; ++fd) {
    if (null_fd >= 0) ::dup2(null_fd, fd);
  }
  if (null_fd > 2) ::close(null_fd);
  for (int i = 0; i < command.kept_count; ++i) {
    if (command.kept[i] > 2) ::close(command.kept[i]);
  }
}

// The processes whose parent is `pid`, through /proc/PID/task/*/children
// (a multi-threaded process lists each thread's children apart). Calls
// `visit` for each; returns how many.
template <class Visit>
int for_each_child(pid_t pid, Visit&& visit) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task", int(pid));
  DIR* tasks = ::opendir(path);
  if (tasks == nullptr) return 0;
  int count = 0;
  while (const dirent* task = ::readdir(tasks)) {
    if (task->d_name[0] < '0' || task->d_name[0] > '9') continue;
    char file[300];
    std::snprintf(file, sizeof file, "/proc/%d/task/%s/children", int(pid), task->d_name);
    const int fd = ::open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char text[4096];
    ssize_t n;
    long child = 0;
    bool in_number = false;
    while ((n = ::read(fd, text, sizeof text)) > 0) {
      for (ssize_t i = 0; i < n; ++i) {
        if (text[i] >= '0' && text[i] <= '9') {
          child = child * 10 + (text[i] - '0');
          in_number = true;
        } else if (in_number) {
          visit(pid_t(child));
          ++count;
          child = 0;
          in_number = false;
        }
      }
    }
    if (in_number) {
      visit(pid_t(child));
      ++count;
    }
    ::close(fd);
  }
  ::closedir(tasks);
  return count;
}

// SIGTERM to every process below the guard, in whatever group or session.
void signal_tree(pid_t root, int sig, int depth = 0) {
  if (depth > 64) return;
  for_each_child(root, [&](pid_t child) {
    ::kill(child, sig);
    signal_tree(child, sig, depth + 1);
  });
}

struct Outcome {
  pid_t child = -1;
  bool child_done = false;
  int status = 0;
};

// Reaps what has exited; false once the guard has no child left at all.
bool reap_ready(Outcome& outcome) {
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == outcome.child) {
      outcome.child_done = true;
      outcome.status = status;
    }
  }
  return !(pid < 0 && errno == ECHILD);
}

// SIGKILL to everything below the guard, until nothing is left: each
// killed process's children come to the guard (it is their subreaper), and
// are killed in the next round.
void kill_tree(Outcome& outcome) {
  const pid_t self = ::getpid();
  for (;;) {
    for_each_child(self, [](pid_t child) { ::kill(child, SIGKILL); });
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      return;  // ECHILD: nothing is left
    }
    if (pid == outcome.child) {
      outcome.child_done = true;
      outcome.status = status;
    }
    reap_ready(outcome);
  }
}

// Ends the guard with the child's own status.
[[noreturn]] void exit_as(int status) {
  if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);  // the child's crash is not the guard's core
  ::signal(sig, SIG_DFL);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  ::sigprocmask(SIG_UNBLOCK, &only, nullptr);
  ::raise(sig);
  ::_exit(128 + sig);
}

[[noreturn]] void supervise(Outcome outcome) {
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGCHLD);
  sigaddset(&waited, stop_signal);
  sigaddset(&waited, kill_signal);
  for (;;) {
    const bool others_left = reap_ready(outcome);
    if (outcome.child_done && !others_left) exit_as(outcome.status);  // the usual end: nothing to kill
    if (outcome.child_done) break;
    siginfo_t info{};
    const int sig = ::sigwaitinfo(&waited, &info);
    if (sig == stop_signal) {
      signal_tree(::getpid(), SIGTERM);
    } else if (sig == kill_signal) {
      break;
    }
  }
  kill_tree(outcome);
  exit_as(outcome.child_done ? outcome.status : SIGKILL);  // a wait status: "killed by SIGKILL"
}

}  // namespace

int main(int argc, char** argv) {
  Command command;
  if (!parse_command(argc, argv, command)) {
    std::fprintf(stderr, "fray-child-guard: runs under fray, not by hand (see fray/detail/child_guard.hpp)\n");
    return 2;
  }
  // The driver started us with every signal blocked: keep them so, and
  // wait for the ones we act on with sigwaitinfo.
  if (::prctl(PR_SET_PDEATHSIG, kill_signal) == -1 || ::prctl(PR_SET_CHILD_SUBREAPER, 1) == -1) {
    report(command, Step::setup, errno);
    return 127;
  }
  // The driver died before PR_SET_PDEATHSIG took: nobody would stop us.
  if (::getppid() != command.driver) return 127;
  close_others(command);
  ::fcntl(command.report_fd, F_SETFD, FD_CLOEXEC);
  if (command.cwd != nullptr && ::chdir(command.cwd) == -1) {
    report(command, Step::chdir, errno);
    return 127;
  }
  int error = 0;
  const pid_t child = start_child(command, error);
  if (child < 0) {
    report(command, Step::exec, error);
    return 127;
  }
  report(command, Step::started, child);
  drop_child_descriptors(command);
  Outcome outcome;
  outcome.child = child;
  supervise(outcome);
}
