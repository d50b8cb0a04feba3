// fray-child-guard: the supervisor every fray child runs under. What it
// does and how the driver talks to it are in fray/detail/child_guard.hpp.
// It is its own small program, linked statically where the build allows, so
// starting it costs little, and it uses the C library only: it must not
// depend on anything in the environment it passes on to the child.
#include "fray/detail/child_guard.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
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

// ---- the request ------------------------------------------------------------

struct Command {
  pid_t driver = 0;
  Request request{};
  int fds[max_fds];        // the request's descriptors, above every target
  const char* cwd = nullptr;  // null: start in fds[request.cwd_index], or stay
  char* payload = nullptr;
  char** argv = nullptr;
  char** envp = nullptr;
  int lowest_free = 3;     // every descriptor we hold for the child is at or above this
};

bool parse_int(const char* text, long& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtol(text, &end, 10);
  return errno == 0 && end != text && *end == '\0';
}

void report(Step step, int value) {
  const Report message{step, value};
  while (::send(control_fd, &message, sizeof message, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

bool read_exactly(int fd, void* into, std::size_t size) {
  auto* bytes = static_cast<char*>(into);
  while (size > 0) {
    const ssize_t n = ::read(fd, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    size -= std::size_t(n);
  }
  return true;
}

enum class Received { request, nothing, bad };

// The Request and its descriptors (MSG_CMSG_CLOEXEC: none leaks into the
// child unless placed on purpose). `nothing`: the driver closed the socket.
// Idle, the guard waits for the driver's next request, or for the driver to
// be done with it: the socket's end-of-file, or kill_signal from the driver
// (a fork of the driver may hold the socket open) or the driver's death.
int idle_signals = -1;  // a signalfd for kill_signal, made at start-up

bool wait_for_request(pid_t driver) {
  const int signals = idle_signals;
  for (;;) {
    pollfd waited[2] = {{control_fd, POLLIN, 0}, {signals, POLLIN, 0}};
    if (::poll(waited, signals >= 0 ? 2 : 1, -1) < 0) {  // without signalfd: the socket alone
      if (errno == EINTR) continue;
      return true;
    }
    if (waited[0].revents != 0) return true;
    signalfd_siginfo info{};
    if (::read(signals, &info, sizeof info) == ssize_t(sizeof info) &&
        ((pid_t(info.ssi_pid) == driver && info.ssi_code == SI_USER) || ::getppid() != driver)) {
      return false;
    }
  }
}

Received receive_request(Command& command) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds)];
  iovec part{&command.request, sizeof command.request};
  msghdr message{};
  message.msg_iov = &part;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = ::recvmsg(control_fd, &message, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n == 0) return Received::nothing;
  if (n < 0 || (message.msg_flags & MSG_CTRUNC) != 0) return Received::bad;
  int received = 0;
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr; header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
    const int count = int((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count && received < max_fds; ++i) {
      std::memcpy(&command.fds[received++], CMSG_DATA(header) + i * sizeof(int), sizeof(int));
    }
  }
  auto* rest = reinterpret_cast<char*>(&command.request) + n;
  if (!read_exactly(control_fd, rest, sizeof command.request - std::size_t(n))) return Received::bad;
  const Request& request = command.request;
  if (request.version != protocol_version || request.fd_count != received || request.fd_count > max_fds ||
      request.payload_bytes > max_payload_bytes || request.arg_count == 0 ||
      // every word takes a byte at least
      request.arg_count > request.payload_bytes || request.env_count > request.payload_bytes ||
      request.terminal < -1 || request.terminal >= request.fd_count || request.cwd_index < -1 ||
      request.cwd_index >= request.fd_count) {
    return Received::bad;
  }
  for (int i = 0; i < request.fd_count; ++i) {
    if (request.targets[i] != guard_only && (request.targets[i] < 0 || request.targets[i] > 1 << 20)) {
      return Received::bad;
    }
  }
  return Received::request;
}

// The payload's words: the cwd, then argv, then the environment.
bool receive_words(Command& command) {
  const Request& request = command.request;
  auto* payload = command.payload = static_cast<char*>(std::malloc(request.payload_bytes + 1));
  command.argv = static_cast<char**>(std::malloc((request.arg_count + 1) * sizeof(char*)));
  command.envp = static_cast<char**>(std::malloc((request.env_count + 1) * sizeof(char*)));
  if (payload == nullptr || command.argv == nullptr || command.envp == nullptr) return false;
  if (!read_exactly(control_fd, payload, request.payload_bytes)) return false;
  payload[request.payload_bytes] = '\0';
  char* word = payload;
  char* const end = payload + request.payload_bytes;
  auto next = [&]() -> char* {
    if (word >= end) return nullptr;
    char* current = word;
    word += std::strlen(word) + 1;
    return current;
  };
  const char* cwd = next();
  if (cwd == nullptr) return false;
  if (*cwd != '\0') command.cwd = cwd;
  for (std::uint32_t i = 0; i < request.arg_count; ++i) {
    if ((command.argv[i] = next()) == nullptr) return false;
  }
  command.argv[request.arg_count] = nullptr;
  for (std::uint32_t i = 0; i < request.env_count; ++i) {
    if ((command.envp[i] = next()) == nullptr) return false;
  }
  command.envp[request.env_count] = nullptr;
  return word == end;
}

// The descriptors arrive wherever the kernel finds room, which may be a
// number another one must get in the child (0, 1, 2 or a kept one): move
// them all above every target first, so placing one never overwrites another.
bool move_above_targets(Command& command) {
  const Request& request = command.request;
  int highest = 2;
  for (int i = 0; i < request.fd_count; ++i) {
    if (request.targets[i] > highest) highest = request.targets[i];
  }
  command.lowest_free = highest + 1;
  for (int i = 0; i < request.fd_count; ++i) {
    if (command.fds[i] >= command.lowest_free) continue;  // above them all already (see hold_standard_numbers)
    const int moved = ::fcntl(command.fds[i], F_DUPFD_CLOEXEC, command.lowest_free);
    if (moved < 0) return false;
    ::close(command.fds[i]);
    command.fds[i] = moved;
  }
  return true;
}

// Descriptors the driver's program opened without O_CLOEXEC reach us too:
// close all but the control socket, so neither the guard nor the child
// holds them.
void close_all_but_control() {
  ::syscall(SYS_close_range, 0u, unsigned(control_fd - 1), 0u);
  ::syscall(SYS_close_range, unsigned(control_fd + 1), ~0u, 0u);
}

// With 0, 1 and 2 taken (by /dev/null, close-on-exec), the descriptors of a
// request arrive above the child's 0, 1 and 2, and most need no move.
void hold_standard_numbers() {
  for (int fd = 0; fd <= 2; ++fd) {
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) return;  // then they are moved, as any other
    if (null != fd) {
      ::dup3(null, fd, O_CLOEXEC);
      ::close(null);
    }
  }
}

// ---- starting the child ---------------------------------------------------

// The child's side of the split, between vfork and exec: system calls only
// (the guard is suspended until exec, and shares this memory). A failure's
// errno goes through `error_fd` (closed by a successful exec), not through
// shared memory, so the same code is right under fork too.
[[noreturn]] void become_child(const Command& command, int error_fd) {
  const Request& request = command.request;
  bool ready = ::setpgid(0, 0) == 0 && ::prctl(PR_SET_PDEATHSIG, SIGKILL) == 0;
  // Our signals are all blocked, so SIGTTOU cannot stop us here.
  if (ready && request.terminal >= 0) ::tcsetpgrp(command.fds[request.terminal], ::getpid());
  for (int i = 0; ready && i < request.fd_count; ++i) {
    if (request.targets[i] != guard_only) ready = ::dup2(command.fds[i], request.targets[i]) >= 0;
  }
  if (ready) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(command.argv[0], command.argv, command.envp);
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
  // The child writes into `ends[1]` after placing its descriptors: keep it
  // off every target number.
  const int writer = ::fcntl(ends[1], F_DUPFD_CLOEXEC, command.lowest_free);
  ::close(ends[1]);
  if (writer < 0) {
    error = errno;
    ::close(ends[0]);
    return -1;
  }
  const pid_t child = ::vfork();
  if (child == 0) become_child(command, writer);
  error = errno;
  ::close(writer);
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

bool enter_directory(const Command& command) {
  if (command.cwd != nullptr) return ::chdir(command.cwd) == 0;
  if (command.request.cwd_index >= 0) return ::fchdir(command.fds[command.request.cwd_index]) == 0;
  return true;
}

// After the child started, the guard holds none of its descriptors: a pipe
// the driver reads must see end-of-file when the child's side closes.
void drop_child_descriptors(const Command& command) {
  for (int i = 0; i < command.request.fd_count; ++i) ::close(command.fds[i]);
}

// ---- the tree below the guard -----------------------------------------------

// The processes whose parent is `pid`, through /proc/PID/task/*/children
// (a multi-threaded process lists each thread's children apart). Calls
// `visit` for each. False if the kernel has no such files
// (CONFIG_PROC_CHILDREN unset).
template <class Visit>
bool for_each_child(pid_t pid, Visit&& visit) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task", int(pid));
  DIR* tasks = ::opendir(path);
  if (tasks == nullptr) return true;  // gone: no children
  bool has_files = true;
  while (const dirent* task = ::readdir(tasks)) {
    if (task->d_name[0] < '0' || task->d_name[0] > '9') continue;
    char file[300];
    std::snprintf(file, sizeof file, "/proc/%d/task/%s/children", int(pid), task->d_name);
    const int fd = ::open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT && ::access("/proc/self/task", F_OK) == 0) has_files = false;
      continue;
    }
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
          child = 0;
          in_number = false;
        }
      }
    }
    if (in_number) visit(pid_t(child));
    ::close(fd);
  }
  ::closedir(tasks);
  return has_files;
}

// A set of pids, bounded: a tree larger than this is cut at the bound.
struct Pids {
  static constexpr int capacity = 8192;
  pid_t items[capacity];
  int count = 0;
  bool contains(pid_t pid) const {
    for (int i = 0; i < count; ++i) {
      if (items[i] == pid) return true;
    }
    return false;
  }
  bool add(pid_t pid) {
    if (count == capacity || contains(pid)) return false;
    items[count++] = pid;
    return true;
  }
};

// Without /proc/PID/task/*/children: every process's parent from
// /proc/PID/stat, then the descendants of `root` among them.
void collect_by_scanning(pid_t root, Pids& out) {
  static Pids all, parents;
  all.count = parents.count = 0;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return;
  while (const dirent* entry = ::readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9' || all.count == Pids::capacity) continue;
    char path[300], text[512];
    std::snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    const ssize_t n = ::read(fd, text, sizeof text - 1);
    ::close(fd);
    if (n <= 0) continue;
    text[n] = '\0';
    const char* after_name = std::strrchr(text, ')');  // the name may hold spaces and parentheses
    if (after_name == nullptr) continue;
    char state = 0;
    int parent = 0;
    if (std::sscanf(after_name + 1, " %c %d", &state, &parent) != 2) continue;
    all.items[all.count] = pid_t(std::atoi(entry->d_name));
    parents.items[all.count++] = pid_t(parent);
  }
  ::closedir(proc);
  for (bool grew = true; grew;) {
    grew = false;
    for (int i = 0; i < all.count; ++i) {
      if ((parents.items[i] == root || out.contains(parents.items[i])) && out.add(all.items[i])) grew = true;
    }
  }
}

void collect_below(pid_t root, Pids& out, int depth = 0) {
  if (depth > 256) return;
  const bool complete = for_each_child(root, [&](pid_t child) {
    if (out.add(child)) collect_below(child, out, depth + 1);
  });
  if (!complete && depth == 0) collect_by_scanning(root, out);
}

struct Outcome {
  pid_t child = -1;
  bool child_done = false;
  int status = 0;
};

// SIGTERM to every process below the guard, in whatever group or session,
// each once. The whole tree is collected before anything is signalled: a
// process that dies at once would otherwise hand its children to the guard
// before they are seen. Rounds follow for what was started meanwhile.
void terminate_tree(const Outcome& outcome) {
  static Pids signalled;
  signalled.count = 0;
  for (int round = 0; round < 16; ++round) {
    static Pids now;
    now.count = 0;
    collect_below(::getpid(), now);
    // The child's own group at once, in one step (what a shell's kill does).
    if (round == 0 && !outcome.child_done) ::kill(-outcome.child, SIGTERM);
    bool fresh = false;
    for (int i = 0; i < now.count; ++i) {
      const pid_t pid = now.items[i];
      if (!signalled.add(pid)) continue;
      fresh = true;
      if (round == 0 && !outcome.child_done && ::getpgid(pid) == outcome.child) continue;  // had it already
      ::kill(pid, SIGTERM);
    }
    if (!fresh) return;
  }
}

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

// SIGKILL to everything below the guard, until nothing is left: what a
// dying process started comes to the guard (it is their subreaper) and is
// killed in the next round.
void kill_tree(Outcome& outcome) {
  for (;;) {
    if (!outcome.child_done) ::kill(-outcome.child, SIGKILL);
    static Pids now;
    now.count = 0;
    collect_below(::getpid(), now);
    for (int i = 0; i < now.count; ++i) ::kill(now.items[i], SIGKILL);
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
  // The child's crash is not the guard's: no core file, and no report to a
  // crash collector (a piped core_pattern ignores RLIMIT_CORE).
  ::prctl(PR_SET_DUMPABLE, 0);
  ::signal(sig, SIG_DFL);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  ::sigprocmask(SIG_UNBLOCK, &only, nullptr);
  ::raise(sig);
  ::_exit(128 + sig);
}

// Watches the child and its tree until they end. Returns true when the
// child exited on its own and left nothing behind, with nobody asking to
// stop it (`outcome` has its status): the guard may serve another child.
// Otherwise kills whatever is left and ends the guard with the child's status.
bool supervise(pid_t driver, Outcome& outcome) {
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGCHLD);
  sigaddset(&waited, stop_signal);
  sigaddset(&waited, kill_signal);
  bool stopping = false;  // the driver asked the tree to end: it has its grace, all of it
  for (;;) {
    const bool others_left = reap_ready(outcome);
    if (outcome.child_done && !others_left) {  // the usual end: nothing to kill
      if (stopping) exit_as(outcome.status);
      return true;
    }
    if (outcome.child_done && !stopping) break;
    siginfo_t info{};
    const int sig = ::sigwaitinfo(&waited, &info);
    // Only the driver tells us what to do; its death reaches us as
    // kill_signal (the PDEATHSIG), after which our parent is someone else.
    const bool from_driver = info.si_pid == driver && info.si_code == SI_USER;  // not a forged sigqueue
    if (sig == stop_signal && from_driver) {
      stopping = true;
      terminate_tree(outcome);
    } else if (sig == kill_signal && (from_driver || ::getppid() != driver)) {
      break;
    }
  }
  kill_tree(outcome);
  exit_as(outcome.child_done ? outcome.status : SIGKILL);  // a wait status: "killed by SIGKILL"
}

}  // namespace

void forget(Command& command) {
  std::free(command.payload);
  std::free(command.argv);
  std::free(command.envp);
}

// Serves one request. Returns true when the guard may take another (a
// reusable request whose child ended on its own); exits otherwise.
bool serve(pid_t driver) {
  Command command;
  command.driver = driver;
  if (!wait_for_request(driver)) std::exit(0);
  switch (receive_request(command)) {
    case Received::nothing:
      std::exit(0);  // the driver is done with us (or never needed us)
    case Received::bad:
      report(Step::setup, EPROTO);
      std::exit(127);
    case Received::request:
      break;
  }
  errno = 0;
  if (!receive_words(command) || !move_above_targets(command)) {
    report(Step::setup, errno != 0 ? errno : EPROTO);
    std::exit(127);
  }
  if (!enter_directory(command)) {
    report(Step::chdir, errno);
    std::exit(127);
  }
  int error = 0;
  const pid_t child = start_child(command, error);
  if (child < 0) {
    report(Step::exec, error);
    std::exit(127);
  }
  report(Step::started, child);
  drop_child_descriptors(command);
  const bool reusable = command.request.reusable != 0;
  forget(command);
  Outcome outcome;
  outcome.child = child;
  if (!supervise(driver, outcome) || !reusable) exit_as(outcome.status);
  // Idle, the guard holds no directory of the child's (which could then
  // not be unmounted) and says how the child ended.
  (void)::chdir("/");
  report(Step::exited, outcome.status);
  return true;
}

int main(int argc, char** argv) {
  long version = 0, driver = 0;
  if (argc != 3 || !parse_int(argv[1], version) || !parse_int(argv[2], driver) ||
      ::fcntl(control_fd, F_GETFD) == -1) {
    std::fprintf(stderr, "fray-child-guard: runs under fray, not by hand (see fray/detail/child_guard.hpp)\n");
    return 2;
  }
  if (version != protocol_version) {
    report(Step::setup, EPROTO);
    return 2;
  }
  // The driver started us with every signal blocked: keep them so, and
  // wait for the ones we act on with sigwaitinfo.
  if (::prctl(PR_SET_PDEATHSIG, kill_signal) == -1 || ::prctl(PR_SET_CHILD_SUBREAPER, 1) == -1) {
    report(Step::setup, errno);
    return 127;
  }
  // The driver died before PR_SET_PDEATHSIG took: nobody would stop us.
  if (::getppid() != pid_t(driver)) return 127;
  ::fcntl(control_fd, F_SETFD, FD_CLOEXEC);
  close_all_but_control();
  hold_standard_numbers();
  if (stop_signal < SIGRTMIN || kill_signal < SIGRTMIN || kill_signal > SIGRTMAX) {
    report(Step::setup, EINVAL);
    return 127;
  }
  sigset_t idle_watched;
  sigemptyset(&idle_watched);
  sigaddset(&idle_watched, kill_signal);
  idle_signals = ::signalfd(-1, &idle_watched, SFD_CLOEXEC);  // -1: the socket alone tells us to go

  while (serve(pid_t(driver))) {
  }
  return 0;
}
