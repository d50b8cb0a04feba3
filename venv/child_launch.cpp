#include "fray/detail/child_launch.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>

#include "fray/detail/child_guard.hpp"
#include "fray/detail/install_layout.hpp"
#include "fray/detail/posix_fd.hpp"
#include "fray/venv_errors.hpp"

#ifndef FRAY_CHILD_GUARD_BUILT
#error "FRAY_CHILD_GUARD_BUILT (fray-child-guard in fray's build tree, relative) must be defined by the build"
#endif
#ifndef FRAY_CHILD_GUARD_INSTALLED
#error "FRAY_CHILD_GUARD_INSTALLED (libexec/fray/fray-child-guard, relative to the prefix) must be defined by the build"
#endif

namespace fray::detail {

namespace asio = boost::asio;

namespace {

bool is_executable_file(const char* path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && ::access(path, X_OK) == 0;
}

std::vector<std::filesystem::path> child_guard_candidates() {
  return fray_file_candidates(FrayFile{FRAY_CHILD_GUARD_INSTALLED, FRAY_CHILD_GUARD_BUILT});
}

std::optional<std::string> find_child_guard() {
  if (const char* configured = std::getenv("FRAY_CHILD_GUARD"); configured != nullptr && *configured != '\0') {
    if (!is_executable_file(configured)) return std::nullopt;
    std::error_code ec;
    return std::filesystem::absolute(configured, ec).string();
  }
  for (const std::filesystem::path& candidate : child_guard_candidates()) {
    if (is_executable_file(candidate.c_str())) return candidate.string();
  }
  return std::nullopt;
}

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

// Waits for `pid` to exit; returns its wait status.
int reap(pid_t pid) noexcept {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// umask(2) can only be read by setting it, which would race with other
// threads creating files: read it from /proc instead.
mode_t current_umask() noexcept {
  const int fd = open_cloexec("/proc/self/status", O_RDONLY);
  if (fd < 0) return mode_t(-1);
  char text[4096];
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return mode_t(-1);
  text[n] = '\0';
  const char* line = std::strstr(text, "\nUmask:");
  return line != nullptr ? mode_t(std::strtoul(line + 7, nullptr, 8)) : mode_t(-1);
}

// A guard that has not been given its child yet, and our end of its control socket.
struct IdleGuard {
  pid_t pid = -1;
  int control = -1;
  InheritedSettings settings;  // the driver's when the guard started
};

// Ends a guard that has no child (idle, or whose launch failed) and reaps
// it. SIGKILL: it has no tree to orphan, and it must go even while a fork
// of the driver holds its socket open or it is halfway through a request.
void retire(IdleGuard& guard) noexcept {
  if (guard.pid > 0) ::kill(guard.pid, SIGKILL);
  close_fd(guard.control);
  if (guard.pid > 0) reap(guard.pid);
  guard.pid = -1;
}

IdleGuard spawn_guard(const ChildLaunch& child) {
  const std::string& path = child_guard_path();
  const InheritedSettings settings = InheritedSettings::now();
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    throw ProcessLaunchFailed(fmt::format("cannot create a socket pair: {}", std::strerror(errno)));
  }
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  // Onto control_fd, without O_CLOEXEC (glibc clears it even when ends[1] is control_fd).
  int error = posix_spawn_file_actions_adddup2(&files, ends[1], child_guard::control_fd);
  const std::string version = std::to_string(child_guard::protocol_version);
  const std::string driver = std::to_string(::getpid());
  std::array<char*, 4> argv{const_cast<char*>(path.c_str()), const_cast<char*>(version.c_str()),
                            const_cast<char*>(driver.c_str()), nullptr};
  std::array<char*, 1> no_env{nullptr};  // the child's environment comes with the request
  SpawnAttributes attributes;
  pid_t pid = -1;
  if (error == 0) error = ::posix_spawn(&pid, path.c_str(), &files, &attributes.attr, argv.data(), no_env.data());
  posix_spawn_file_actions_destroy(&files);
  ::close(ends[1]);
  if (error != 0) {
    ::close(ends[0]);
    throw ProcessLaunchFailed(fmt::format("cannot start {}: its child guard {} did not start: {}",
                                          child.executable.string(), path, std::strerror(error)));
  }
  return IdleGuard{pid, ends[0], settings};
}

// Guards idle on this thread (whose death their PDEATHSIG follows), for its
// next launches: a guard whose child ended on its own comes back here, so a
// launch only hands it the next child. Only threads that asked for them
// (keep_idle_guards) keep any. The process thread's are shared
// (share_idle_guards): any thread may hand one a child, under shelf_mutex().
struct IdleGuards {
  static constexpr std::size_t kept_at_most = 8;
  bool wanted = false;
  bool shared = false;
  pid_t owner = -1;  // the process whose guards these are: a fork of the driver must not use them
  std::vector<IdleGuard> guards;
  ~IdleGuards();
  std::optional<IdleGuard> take();
  void give_back(IdleGuard guard) noexcept;
  // For shared ones, with shelf_mutex() held.
  std::optional<IdleGuard> take_locked();
  // One started with `settings`, if the last idle one was; retires none.
  std::optional<IdleGuard> take_matching_locked(const InheritedSettings& settings);
  void give_back_locked(IdleGuard guard) noexcept;
};

thread_local IdleGuards idle_guards;

// The process thread's idle guards, while it runs; and what guards them
// (never destroyed: a launch may look for them while the program exits).
IdleGuards* shared_idle_guards = nullptr;
std::mutex& shelf_mutex() {
  static std::mutex& mutex = *new std::mutex;
  return mutex;
}

IdleGuards::~IdleGuards() {
  std::unique_lock lock(shelf_mutex(), std::defer_lock);
  if (shared) {
    lock.lock();
    shared_idle_guards = nullptr;
  }
  if (owner != ::getpid()) return;
  for (auto& guard : guards) retire(guard);
}

std::optional<IdleGuard> IdleGuards::take() {
  if (!shared) return take_locked();
  std::lock_guard lock(shelf_mutex());
  return take_locked();
}

void IdleGuards::give_back(IdleGuard guard) noexcept {
  if (!shared) return give_back_locked(guard);
  std::lock_guard lock(shelf_mutex());
  give_back_locked(guard);
}

std::optional<IdleGuard> IdleGuards::take_locked() {
  if (owner != ::getpid()) {  // we are a fork: the guards are our parent's
    for (auto& guard : guards) ::close(guard.control);
    guards.clear();
    owner = ::getpid();
  }
  if (guards.empty()) return std::nullopt;
  // Started before the driver changed its credentials, umask or limits:
  // its child would get the old ones. Retire them all (they are alike).
  if (!(guards.back().settings == InheritedSettings::now())) {
    for (auto& guard : guards) retire(guard);
    guards.clear();
    return std::nullopt;
  }
  IdleGuard guard = guards.back();
  guards.pop_back();
  return guard;
}

std::optional<IdleGuard> IdleGuards::take_matching_locked(const InheritedSettings& settings) {
  if (owner != ::getpid() || guards.empty() || !(guards.back().settings == settings)) return std::nullopt;
  IdleGuard guard = guards.back();
  guards.pop_back();
  return guard;
}

void IdleGuards::give_back_locked(IdleGuard guard) noexcept {
  if (!wanted || owner != ::getpid() || guards.size() >= kept_at_most) return retire(guard);
  // An event loop may have made it non-blocking while it watched it.
  ::fcntl(guard.control, F_SETFL, ::fcntl(guard.control, F_GETFL) & ~O_NONBLOCK);
  try {
    guards.push_back(guard);
  } catch (...) {
    retire(guard);
  }
}

// One buffer of NUL-terminated words: the cwd, argv, the environment.
std::string request_words(const ChildLaunch& child) {
  std::string words;
  auto add = [&](std::string_view word) {
    words.append(word);
    words.push_back('\0');
  };
  // Relative to the driver's directory, not to wherever the guard is.
  std::string cwd;
  if (child.cwd) {
    std::error_code ec;
    cwd = std::filesystem::absolute(*child.cwd, ec).string();
    if (ec) {
      throw ProcessLaunchFailed(fmt::format("cannot start {}: cannot resolve its working directory {}: {}",
                                            child.executable.string(), child.cwd->string(), ec.message()));
    }
  }
  add(cwd);
  add(child.executable.string());
  for (const auto& arg : child.args) add(arg);
  for (const auto& entry : child.env) add(entry);
  if (words.size() > child_guard::max_payload_bytes) {
    throw ProcessLaunchFailed(fmt::format("cannot start {}: its arguments and environment take {} bytes: {}",
                                          child.executable.string(), words.size(), std::strerror(E2BIG)));
  }
  return words;
}

// The request, its descriptors attached; 0 or the errno of the failure.
int send_request(int control, const ChildLaunch& child, const std::string& words, int start_dir, bool reusable) {
  child_guard::Request request{};
  std::vector<int> fds;
  auto attach = [&](int fd, std::int32_t target) {
    request.targets[fds.size()] = target;
    fds.push_back(fd);
    return std::int32_t(fds.size() - 1);
  };
  attach(child.stdin_fd, STDIN_FILENO);
  attach(child.stdout_fd, STDOUT_FILENO);
  attach(child.stderr_fd, STDERR_FILENO);
  for (int fd : child.inherited) attach(fd, fd);
  request.terminal = child.terminal >= 0 ? attach(child.terminal, child_guard::guard_only) : -1;
  request.cwd_index = start_dir >= 0 ? attach(start_dir, child_guard::guard_only) : -1;
  request.reusable = reusable ? 1 : 0;
  request.version = child_guard::protocol_version;
  request.payload_bytes = std::uint32_t(words.size());
  request.arg_count = std::uint32_t(1 + child.args.size());
  request.env_count = std::uint32_t(child.env.size());
  request.fd_count = std::int32_t(fds.size());

  // The request and its words in one message, so the guard wakes once; a
  // stream socket may take it in parts (the descriptors go with the first).
  std::vector<char> attached(CMSG_SPACE(sizeof(int) * fds.size()));
  iovec parts[2] = {{&request, sizeof request}, {const_cast<char*>(words.data()), words.size()}};
  msghdr message{};
  message.msg_iov = parts;
  message.msg_iovlen = 2;
  message.msg_control = attached.data();
  message.msg_controllen = attached.size();
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
  ssize_t sent;
  while ((sent = ::sendmsg(control, &message, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  if (sent < 0) return errno;
  std::size_t done = std::size_t(sent);
  for (std::string_view data : {std::string_view(reinterpret_cast<const char*>(&request), sizeof request),
                                std::string_view(words)}) {
    const std::size_t skipped = std::min(done, data.size());
    done -= skipped;
    data.remove_prefix(skipped);
    while (!data.empty()) {
      const ssize_t n = ::send(control, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      data.remove_prefix(std::size_t(n));
    }
  }
  return 0;
}

// The guard's report, read until it arrives or the guard closes the socket.
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

std::string launch_failure(const ChildLaunch& child, const std::optional<child_guard::Report>& report) {
  const std::string exe = child.executable.string();
  if (!report) return fmt::format("cannot start {}: its child guard exited before starting it", exe);
  const char* reason = std::strerror(report->value);
  switch (report->step) {
    case child_guard::Step::chdir: {
      if (!child.cwd) return fmt::format("cannot start {}: cannot enter the driver's working directory: {}", exe, reason);
      std::error_code ec;
      if (!std::filesystem::is_directory(*child.cwd, ec)) {
        return fmt::format("cannot start {}: its working directory {} does not exist", exe, child.cwd->string());
      }
      return fmt::format("cannot start {}: cannot enter its working directory {}: {}", exe, child.cwd->string(),
                         reason);
    }
    case child_guard::Step::setup:
      if (report->value == EPROTO) {
        return fmt::format("cannot start {}: its child guard {} does not speak this fray's protocol (version {}); "
                           "is it from another fray build? Set FRAY_CHILD_GUARD to this build's",
                           exe, child_guard_path(), child_guard::protocol_version);
      }
      return fmt::format("cannot start {}: its child guard could not set up: {}", exe, reason);
    case child_guard::Step::exec:
    case child_guard::Step::started:
    case child_guard::Step::exited:
      break;
  }
  return fmt::format("cannot start {}: {}", exe, reason);
}

// Words travel NUL-terminated, so none may hold a NUL (execve could not
// pass one either).
void check_words(const ChildLaunch& child) {
  auto refuse = [&](std::string_view what) {
    throw ProcessLaunchFailed(
        fmt::format("cannot start {}: {} holds a NUL byte", child.executable.string(), what));
  };
  if (child.executable.string().find('\0') != std::string::npos) refuse("its path");
  if (child.cwd && child.cwd->string().find('\0') != std::string::npos) refuse("its working directory");
  for (std::size_t i = 0; i < child.args.size(); ++i) {
    if (child.args[i].find('\0') != std::string::npos) refuse(fmt::format("argument {}", i + 1));
  }
  for (const auto& entry : child.env) {
    if (entry.find('\0') != std::string::npos) refuse(fmt::format("environment entry {}", entry.substr(0, entry.find('='))));
  }
}

void check_descriptors(const ChildLaunch& child) {
  if (child.inherited.size() + 5 > std::size_t(child_guard::max_fds)) {
    throw ProcessLaunchFailed(fmt::format("cannot start {}: {} descriptors to keep, at most {}",
                                          child.executable.string(), child.inherited.size(),
                                          child_guard::max_fds - 5));
  }
  for (int fd : child.inherited) {
    if (fd <= STDERR_FILENO) {
      throw ProcessLaunchFailed(fmt::format("cannot start {}: descriptor {} cannot be kept under its number, which "
                                            "is the child's stdin, stdout or stderr",
                                            child.executable.string(), fd));
    }
  }
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

InheritedSettings InheritedSettings::now() noexcept {
  InheritedSettings settings;
  ::getresuid(&settings.uids[0], &settings.uids[1], &settings.uids[2]);
  ::getresgid(&settings.gids[0], &settings.gids[1], &settings.gids[2]);
  settings.no_new_privs = ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  settings.umask = current_umask();
  settings.group_count = ::getgroups(int(std::size(settings.groups)), settings.groups);
  for (int resource = 0; resource < RLIM_NLIMITS; ++resource) ::getrlimit(resource, &settings.limits[resource]);
  return settings;
}

bool InheritedSettings::operator==(const InheritedSettings& other) const noexcept {
  return std::memcmp(uids, other.uids, sizeof uids) == 0 && std::memcmp(gids, other.gids, sizeof gids) == 0 &&
         no_new_privs == other.no_new_privs && umask == other.umask && group_count == other.group_count &&
         std::memcmp(groups, other.groups, sizeof groups) == 0 &&
         std::memcmp(limits, other.limits, sizeof limits) == 0;
}

const std::string& child_guard_path() {
  // Never destroyed: the process thread may launch while the program exits.
  static const std::optional<std::string>& found = *new std::optional<std::string>(find_child_guard());
  if (!found) {
    if (const char* configured = std::getenv("FRAY_CHILD_GUARD"); configured != nullptr && *configured != '\0') {
      throw ProcessLaunchFailed(fmt::format("FRAY_CHILD_GUARD={} is not an executable file", configured));
    }
    throw ProcessLaunchFailed(fmt::format("fray's child guard program {}; set FRAY_CHILD_GUARD to its path (or "
                                          "FRAY_PREFIX to fray's install prefix)",
                                          not_found_in(child_guard_candidates())));
  }
  return *found;
}

namespace {

// The driver's working directory, for a child that stays in it (a guard
// may have been started ahead, elsewhere); -1 when the child has a cwd.
int open_start_dir(const ChildLaunch& child) {
  if (child.cwd) return -1;
  const int fd = open_cloexec(".", O_PATH | O_DIRECTORY);
  if (fd < 0) {
    throw ProcessLaunchFailed(fmt::format("cannot start {}: cannot open the driver's working directory: {}",
                                          child.executable.string(), std::strerror(errno)));
  }
  return fd;
}

// What a guard is sent besides the descriptors: built once per launch, even
// when the first guard it goes to turns out gone.
struct LaunchRequest {
  std::string words;
  int start_dir = -1;
  explicit LaunchRequest(const ChildLaunch& child) {
    check_words(child);
    check_descriptors(child);
    words = request_words(child);
    start_dir = open_start_dir(child);
  }
  LaunchRequest(std::string saved_words, int saved_start_dir) noexcept
      : words(std::move(saved_words)), start_dir(saved_start_dir) {}
  LaunchRequest(const LaunchRequest&) = delete;
  ~LaunchRequest() { close_fd(start_dir); }
};

// A guard being handed a child: retired unless the child started.
struct GuardInHand {
  IdleGuard guard;
  bool started = false;
  explicit GuardInHand(const IdleGuard& taken) noexcept : guard(taken) {}
  GuardInHand(const GuardInHand&) = delete;
  ~GuardInHand() {
    if (!started) retire(guard);
  }
};

// Hands `request` to `guard`; its report, none if the guard is gone or
// cannot be reached (`error`: why).
std::optional<child_guard::Report> hand_over(const ChildLaunch& child, const LaunchRequest& request,
                                             const IdleGuard& guard, bool reusable, int& error) {
  error = send_request(guard.control, child, request.words, request.start_dir, reusable);
  return error == 0 ? read_report(guard.control) : std::nullopt;
}

// The launch's end: the child runs under the guard, or the guard said why not.
LaunchedChild started_or_throw(const ChildLaunch& child, GuardInHand& held,
                               const std::optional<child_guard::Report>& report, int error, bool reusable) {
  if (!report || report->step != child_guard::Step::started) {
    if (error != 0) {
      throw ProcessLaunchFailed(fmt::format("cannot start {}: cannot reach its child guard: {}",
                                            child.executable.string(), std::strerror(error)));
    }
    throw ProcessLaunchFailed(launch_failure(child, report));
  }
  held.started = true;
  LaunchedChild launched{held.guard.pid, pid_t(report->value), -1, held.guard.settings};
  if (reusable) {
    launched.control = held.guard.control;  // the child's end is reported there
  } else {
    close_fd(held.guard.control);
  }
  return launched;
}

// On a thread whose guards' PDEATHSIG may follow it: `spare` (an idle
// guard) or a fresh guard starts the child.
LaunchedChild launch_with(const ChildLaunch& child, const LaunchRequest& request, std::optional<IdleGuard> spare) {
  const bool reusable = idle_guards.wanted;
  GuardInHand held{spare ? *spare : spawn_guard(child)};
  int error = 0;
  auto report = hand_over(child, request, held.guard, reusable, error);
  if (!report && spare) {  // the idle guard is gone (killed by someone): a fresh one
    retire(held.guard);
    held.guard = spawn_guard(child);
    report = hand_over(child, request, held.guard, reusable, error);
  }
  return started_or_throw(child, held, report, error, reusable);
}

}  // namespace

LaunchedChild launch_child(const ChildLaunch& child) {
  const LaunchRequest request(child);
  return launch_with(child, request, idle_guards.take());
}

PendingLaunch::PendingLaunch(PendingLaunch&& other) noexcept
    : guard_(std::exchange(other.guard_, -1)),
      control_(std::exchange(other.control_, -1)),
      delivered_(std::exchange(other.delivered_, false)),
      settings_(other.settings_),
      words_(std::move(other.words_)),
      start_dir_(std::exchange(other.start_dir_, -1)) {}

PendingLaunch::~PendingLaunch() {
  close_fd(start_dir_);
  if (guard_ <= 0) return;
  if (delivered_) {  // the child may run already: its whole tree goes, as for an abandoned child
    close_fd(control_);
    kill_tree_and_reap(guard_);
    return;
  }
  IdleGuard guard{guard_, control_, settings_};
  retire(guard);
}

namespace {

// An idle guard of the process thread's started with this thread's
// settings, if any. The settings are read outside the lock, which every
// run takes, and only when a guard is idle. One whose settings differ from
// this thread's is left to the process thread, whose own they are
// (no_new_privs and raw setresuid are per thread).
std::optional<IdleGuard> take_shared_guard() {
  {
    std::lock_guard lock(shelf_mutex());
    if (shared_idle_guards == nullptr || shared_idle_guards->guards.empty()) return std::nullopt;
  }
  const InheritedSettings settings = InheritedSettings::now();
  std::lock_guard lock(shelf_mutex());
  if (shared_idle_guards == nullptr) return std::nullopt;
  return shared_idle_guards->take_matching_locked(settings);
}

}  // namespace

PendingLaunch hand_to_shared_guard(const ChildLaunch& child) {
  LaunchRequest request(child);  // before a guard is taken: it may throw
  PendingLaunch pending;
  pending.words_ = std::move(request.words);
  pending.start_dir_ = std::exchange(request.start_dir, -1);
  const std::optional<IdleGuard> spare = take_shared_guard();
  if (!spare) return pending;
  pending.guard_ = spare->pid;
  pending.control_ = spare->control;
  pending.settings_ = spare->settings;
  pending.delivered_ = send_request(pending.control_, child, pending.words_, pending.start_dir_, true) == 0;
  return pending;
}

LaunchedChild finish_launch(PendingLaunch& pending, const ChildLaunch& child) {
  const LaunchRequest request(std::move(pending.words_), std::exchange(pending.start_dir_, -1));
  if (pending.guard_ <= 0) return launch_with(child, request, idle_guards.take());
  const bool delivered = std::exchange(pending.delivered_, false);
  GuardInHand held{IdleGuard{std::exchange(pending.guard_, -1), std::exchange(pending.control_, -1),
                             pending.settings_}};
  auto report = delivered ? read_report(held.guard.control) : std::nullopt;
  if (!report) {  // gone (killed by someone): a fresh guard, with the same request
    retire(held.guard);
    return launch_with(child, request, std::nullopt);
  }
  return started_or_throw(child, held, report, 0, true);
}

void keep_idle_guards() noexcept {
  // No guard is started here: a thread that starts while the program exits
  // (an env closed by a static destructor) must not start one then. The
  // first launch starts it, and it stays.
  idle_guards.wanted = true;
  idle_guards.owner = ::getpid();
}

void share_idle_guards() noexcept {
  keep_idle_guards();
  std::lock_guard lock(shelf_mutex());
  idle_guards.shared = true;
  shared_idle_guards = &idle_guards;
}

void start_idle_guard() noexcept {
  if (!idle_guards.wanted) return;
  try {
    ChildLaunch none;  // names the child in spawn_guard's errors only
    idle_guards.give_back(spawn_guard(none));
  } catch (...) {
    // The launch will start one, and say why if it cannot.
  }
}

int finish_child(LaunchedChild& child, bool signalled) noexcept {
  if (child.control < 0) {
    const int status = kill_tree_and_reap(child.guard);
    child = LaunchedChild{};
    return status;
  }
  const auto report = read_report(child.control);
  IdleGuard guard{child.guard, child.control, child.settings};
  child = LaunchedChild{};
  if (report && report->step == child_guard::Step::exited) {
    if (signalled) {
      retire(guard);  // a signal of ours may still be on its way to it
    } else {
      idle_guards.give_back(guard);
    }
    return report->value;
  }
  // The guard ended (stopped or killed): its status is the child's.
  close_fd(guard.control);
  return reap(guard.pid);
}

int abandon_child(LaunchedChild& child) noexcept {
  close_fd(child.control);
  const int status = kill_tree_and_reap(child.guard);
  child = LaunchedChild{};
  return status;
}

void terminate_tree(pid_t guard) noexcept { ::kill(guard, child_guard::stop_signal); }

void kill_tree(pid_t guard) noexcept { ::kill(guard, child_guard::kill_signal); }

int kill_tree_and_reap(pid_t guard) noexcept {
  kill_tree(guard);
  return reap(guard);
}

void ChildExitWatch::start(const LaunchedChild& child, std::function<void()> on_exit) {
  if (child.control < 0) return start(child.guard, std::move(on_exit));
  socket_ = std::make_unique<asio::posix::stream_descriptor>(io_, child.control);
  socket_->async_wait(asio::posix::stream_descriptor::wait_read,
                      [on_exit = std::move(on_exit)](const boost::system::error_code& error) {
                        if (error != asio::error::operation_aborted) on_exit();
                      });
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
  if (socket_) {
    (void)socket_->release();  // the socket is the caller's (finish_child closes or keeps it)
    socket_.reset();
  }
  poll_.cancel();
  on_exit_ = nullptr;
}

}  // namespace fray::detail
