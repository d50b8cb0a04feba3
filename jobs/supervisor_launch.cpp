#include "fray/detail/supervisor_launch.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include <fray/detail/child_environment.hpp>
#include <fray/detail/posix_fd.hpp>

#include "fray/detail/job_supervisor.hpp"
#include "fray/job_errors.hpp"

extern char** environ;

namespace fray::detail {

namespace fs = std::filesystem;

namespace {

// posix_spawn of the supervisor with `args` after its path: stdin
// `input_fd`, stdout and stderr `output` (appended), fd 3 `ready_fd`, in a
// session of its own, every signal at its default and none blocked.
// Returns its pid, or the errno of the failure.
pid_t spawn_with(const std::vector<std::string>& args, const fs::path& output, int input_fd, int ready_fd, int& error) {
  const std::string& program = job_supervisor_path();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input_fd, 0);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_adddup2(&actions, ready_fd, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
  std::vector<char*> argv{const_cast<char*>(program.c_str())};
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  error = ::posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return error == 0 ? pid : -1;
}

void reap(pid_t pid) noexcept {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

std::vector<std::string> environment_now() {
  std::vector<std::string> entries;
  for (char** entry = environ; *entry != nullptr; ++entry) entries.emplace_back(*entry);
  return entries;
}

std::string cwd_now() {
  std::error_code error;
  return fs::current_path(error).string();
}

// Sends all of `data` on the socket `fd`; false when its reader is gone
// (EPIPE through MSG_NOSIGNAL, never SIGPIPE).
bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

}  // namespace

std::string run_supervisor(const fs::path& log, std::string_view input) {
  int sockets[2], ready[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
    throw JobError(fmt::format("fray: a socket for the job supervisor: {}", std::strerror(errno)));
  }
  UniqueFd to_supervisor(sockets[0]), its_input(sockets[1]);
  if (::pipe2(ready, O_CLOEXEC) != 0) throw JobError(fmt::format("fray: a pipe for the job supervisor: {}", std::strerror(errno)));
  UniqueFd answers(ready[0]), its_ready(ready[1]);
  int error = 0;
  const pid_t first = spawn_with({"supervise"}, log, its_input.get(), its_ready.get(), error);
  if (first < 0) {
    throw JobError(fmt::format("fray: starting the job supervisor {}: {}", job_supervisor_path(), std::strerror(error)));
  }
  its_input.reset();
  its_ready.reset();
  reap(first);  // it forks and exits: the supervisor is nobody's child here
  send_all(to_supervisor.get(), input);  // if it is gone, its answer says nothing, and its log why
  to_supervisor.reset();                 // end of its input
  return read_to_end(answers.get());
}

std::unique_ptr<SpareSupervisor> SpareSupervisor::start(const fs::path& jobs_dir) {
  std::unique_ptr<SpareSupervisor> spare(new SpareSupervisor);
  int sockets[2], ready[2];
  // A socket, not a pipe: handing a job to a spare that died fails with
  // EPIPE (MSG_NOSIGNAL) instead of raising SIGPIPE here.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) return nullptr;
  spare->input_ = UniqueFd(sockets[0]);
  UniqueFd its_input(sockets[1]);
  if (::pipe2(ready, O_CLOEXEC) != 0) return nullptr;
  spare->ready_ = UniqueFd(ready[0]);
  UniqueFd its_ready(ready[1]);
  // What it inherits, to compare when it is handed a job.
  spare->owner_ = ::getpid();
  spare->settings_ = InheritedSettings::now();
  spare->environment_ = environment_now();
  spare->cwd_ = cwd_now();
  int error = 0;
  try {
    spare->first_ = spawn_with({std::string(kSupervisorSpareMode), jobs_dir.string()}, "/dev/null", its_input.get(),
                               its_ready.get(), error);
  } catch (const std::exception&) {
    return nullptr;  // no supervisor program: the launch says so
  }
  if (spare->first_ < 0) return nullptr;
  return spare;
}

SpareSupervisor::~SpareSupervisor() {
  input_.reset();  // end of file: it exits (once no fork holds a copy either)
  ready_.reset();
  if (first_ > 0 && ::getpid() == owner_) reap(first_);
}

bool SpareSupervisor::still_fits() const {
  return InheritedSettings::now() == settings_ && environment_now() == environment_ && cwd_now() == cwd_;
}

std::optional<std::string> SpareSupervisor::hand(std::string_view input) {
  if (::getpid() != owner_ || !still_fits()) return std::nullopt;
  // It is gone (killed, say): it read nothing, so nothing of the job started.
  if (!send_all(input_.get(), input)) return std::nullopt;
  input_.reset();  // end of its input
  std::string answer = read_to_end(ready_.get());
  ready_.reset();
  reap(std::exchange(first_, -1));
  return answer;
}

}  // namespace fray::detail
