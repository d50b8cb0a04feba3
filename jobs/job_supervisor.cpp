#include "fray/detail/job_supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <fray/detail/child_environment.hpp>
#include <fray/detail/file_lock.hpp>
#include <fray/detail/fs_util.hpp>
#include <fray/detail/posix_fd.hpp>
#include <fray/detail/process_runner.hpp>
#include <fray/promise.hpp>
#include <fray/python.hpp>
#include <fray/venv.hpp>

#include "fray/detail/job_directory.hpp"
#include "fray/detail/job_json.hpp"
#include "fray/detail/job_ledger.hpp"
#include "fray/detail/replica_outcome.hpp"
#include "fray/job_errors.hpp"

extern char** environ;

namespace fray::detail {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr int ready_fd = 3;

void say(std::string_view line) {
  const std::string text = fmt::format("fray-job-supervisor: {}\n", line);
  (void)!::write(2, text.data(), text.size());
}

// What stops the job, and what wakes the admission wait. Fed by the
// watcher thread (signals, the submitter's end).
struct Events {
  std::mutex mutex;
  std::condition_variable changed;
  bool stop = false;
  std::string stop_reason;
  std::uint64_t wakes = 0;

  void request_stop(std::string reason) {
    std::lock_guard lock(mutex);
    if (!stop) stop_reason = std::move(reason);
    stop = true;
    changed.notify_all();
  }
  void wake() {
    std::lock_guard lock(mutex);
    ++wakes;
    changed.notify_all();
  }
  bool stopping() {
    std::lock_guard lock(mutex);
    return stop;
  }
};

// Turns SIGTERM/SIGINT/SIGHUP (and, when asked, the submitter's end) into
// a stop, and SIGUSR1 (another supervisor admitted this job) into a wake.
class Watcher {
 public:
  Watcher(Events& events, const sigset_t& signals, int submitter_pidfd) : events_(events), pidfd_(submitter_pidfd) {
    signal_fd_ = ::signalfd(-1, &signals, SFD_CLOEXEC);
    quit_[0] = quit_[1] = -1;
    if (::pipe2(quit_, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    thread_ = std::thread([this] { run(); });
  }
  ~Watcher() {
    (void)!::write(quit_[1], "q", 1);
    thread_.join();
    ::close(quit_[0]);
    ::close(quit_[1]);
    ::close(signal_fd_);
    if (pidfd_ >= 0) ::close(pidfd_);
  }

 private:
  void run() {
    for (;;) {
      pollfd fds[3] = {{quit_[0], POLLIN, 0}, {signal_fd_, POLLIN, 0}, {pidfd_, POLLIN, 0}};
      const int count = pidfd_ >= 0 ? 3 : 2;
      if (::poll(fds, count, -1) < 0) continue;
      if (fds[0].revents != 0) return;
      if (fds[1].revents & POLLIN) {
        signalfd_siginfo info{};
        if (::read(signal_fd_, &info, sizeof info) == sizeof info) {
          if (int(info.ssi_signo) == SIGUSR1) {
            events_.wake();
          } else {
            events_.request_stop(fmt::format("stopped ({} from pid {})", signal_name(int(info.ssi_signo)), info.ssi_pid));
          }
        }
      }
      if (count == 3 && fds[2].revents != 0) {
        events_.request_stop("stopped: the program that launched it ended (die_with_submitter)");
        ::close(pidfd_);
        pidfd_ = -1;
      }
    }
  }

  Events& events_;
  int pidfd_;
  int signal_fd_ = -1;
  int quit_[2];
  std::thread thread_;
};

// The submitter as a pidfd, or -1 when it has already gone (then the job
// stops at once).
int open_submitter(const json::object& input, Events& events) {
  const json::value* pid = input.if_contains("submitter_pid");
  if (pid == nullptr) return -1;
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid->to_number<std::int64_t>()), 0));
  const auto start = input.at("submitter_start_time").to_number<std::uint64_t>();
  if (fd < 0 || process_start_time(static_cast<int>(pid->to_number<std::int64_t>())) != start) {
    if (fd >= 0) ::close(fd);
    events.request_stop("stopped: the program that launched it ended (die_with_submitter)");
    return -1;
  }
  return fd;
}

std::string self_executable() {
  std::error_code error;
  return fs::read_symlink("/proc/self/exe", error).string();
}

// The replicas' environment when the job has no env: this process's (the
// submitter's, as it was at launch) with the replica's variables over it.
std::vector<std::string> plain_environment(const std::map<std::string, std::string>& vars) {
  std::vector<std::string> out;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::string key(text.substr(0, text.find('=')));
    if (!vars.contains(key)) out.emplace_back(text);
  }
  for (const auto& [key, value] : vars) out.push_back(key + "=" + value);
  return out;
}

std::string path_of(const std::vector<std::string>& env) {
  for (const std::string& entry : env) {
    if (entry.starts_with("PATH=")) return entry.substr(5);
  }
  return "/usr/local/bin:/usr/bin:/bin";
}

std::string describe_end(const ProcessResult& result) { return describe_exit(result.exit_code, result.signal); }

// One job: its record, its env, its attempts.
class Supervisor {
 public:
  Supervisor(const json::object& input, Events& events)
      : events_(events),
        jobs_dir_(std::string(input.at("jobs_dir").as_string())),
        dir_(jobs_dir_, std::string(input.at("id").as_string())),
        request_(request_from_json(input.at("request"))),
        spec_(std::string(input.at("spec").as_string())),
        ledger_(jobs_dir_),
        kill_grace_(input.at("kill_grace_ms").to_number<std::int64_t>()) {
    const json::object& capacity = input.at("capacity").as_object();
    capacity_ = {capacity.at("cpu").to_number<double>(), capacity.at("ram").to_number<std::uint64_t>(),
                 static_cast<int>(capacity.at("gpu").to_number<std::int64_t>())};
    info_.id = dir_.id();
    info_.name = request_.name;
    info_.submitted = JobClock::now();
    reset_replicas();
  }

  // Recorded, queued and holding the supervisor lock: the launcher may return.
  void record() {
    lock_ = FileLock::acquire(supervisor_lock_file(jobs_dir_, dir_.id()), FileLock::Mode::exclusive);
    // Read by terminate(), which retries until it parses: no need to rename it into place.
    write_file(dir_.root() / "supervisor.pid", fmt::format("{} {}\n", ::getpid(), process_start_time(::getpid())));
    const double replicas = request_.replicas;
    admitted_ = ledger_.enqueue(dir_.id(), {request_.resources.cpu * replicas, request_.resources.ram * std::uint64_t(request_.replicas),
                                            request_.resources.gpu_count() * request_.replicas},
                                capacity_);
    // Admitted at once, it says "running" next; until then poll() reads
    // the missing status as pending.
    if (!admitted_) write_status();
  }

  int run() {
    if (!open_env()) return finish();
    if (!wait_for_admission()) return finish();
    {
      std::lock_guard lock(mutex_);
      info_.started = JobClock::now();
    }
    for (int attempt = 0;; ++attempt) {
      run_attempt(attempt);
      std::lock_guard lock(mutex_);
      if (aggregate_status(info_.replicas) != JobStatus::failed || events_.stopping() || attempt >= request_.max_retries_failure) break;
      say(fmt::format("attempt {} failed ({}); retrying", attempt, failed_replicas_message(info_.replicas)));
    }
    return finish();
  }

 private:
  void reset_replicas() {
    info_.replicas.clear();
    for (int i = 0; i < request_.replicas; ++i) {
      ReplicaInfo replica;
      replica.index = i;
      info_.replicas.push_back(std::move(replica));
    }
  }

  void write_status() { dir_.write_status(info_); }

  // The job's env, built before admission (building holds no share of the
  // machine). False when it failed or a stop came meanwhile.
  bool open_env() {
    std::optional<VenvOptions> options = request_.environment.venv;
    if (!options && request_.entrypoint.is_python()) options = VenvOptions{};
    if (!options) return !events_.stopping();
    try {
      options->on_progress = [](std::string_view line) { say(line); };
      env_.emplace(std::move(*options));
    } catch (const std::exception& e) {
      fail_job(fmt::format("its env could not be built: {}", e.what()));
      return false;
    }
    return !events_.stopping();
  }

  bool wait_for_admission() {
    if (admitted_) return !events_.stopping();
    for (;;) {
      if (events_.stopping()) return false;
      std::uint64_t wakes;
      {
        std::lock_guard lock(events_.mutex);
        wakes = events_.wakes;
      }
      if (ledger_.try_admit(dir_.id())) return true;
      // SIGUSR1 comes when another supervisor admits this job; the timeout
      // is a safety net for a signal that never comes (a killed admitter).
      std::unique_lock lock(events_.mutex);
      events_.changed.wait_for(lock, std::chrono::seconds(1), [&] { return events_.stop || events_.wakes != wakes; });
    }
  }

  void run_attempt(int attempt) {
    std::vector<Future<ProcessResult>> futures;
    std::vector<int> log_fds;
    {
      std::lock_guard lock(mutex_);
      info_.attempt = attempt;
      info_.error.clear();
      reset_replicas();
      for (ReplicaInfo& replica : info_.replicas) replica.status = JobStatus::running;
      info_.status = JobStatus::running;
    }
    for (int i = 0; i < request_.replicas; ++i) {
      const fs::path log = dir_.log_file(i, attempt);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      log_fds.push_back(fd);
      futures.push_back(start_replica(i, fd));
    }
    {
      // "running" once they are started, not before: the replicas' start
      // then overlaps this write (a new file and a rename, 0.3-0.5 ms
      // here) instead of waiting behind it. Their outcomes are written
      // by the waiters below, after this.
      std::lock_guard lock(mutex_);
      write_status();
    }
    std::vector<std::thread> waiters;
    std::atomic<int> running = request_.replicas;
    for (int i = 0; i < request_.replicas; ++i) {
      waiters.emplace_back([this, i, &futures, &running] {
        settle_replica(i, futures[i]);
        --running;
        events_.wake();
      });
    }
    {
      std::unique_lock lock(events_.mutex);
      events_.changed.wait(lock, [&] { return events_.stop || running == 0; });
    }
    if (running != 0) {
      for (const auto& future : futures) future.cancel();
    }
    for (std::thread& waiter : waiters) waiter.join();
    for (int fd : log_fds) {
      if (fd >= 0) ::close(fd);
    }
  }

  Future<ProcessResult> start_replica(int index, int log_fd) {
    const auto vars = replica_variables(request_, dir_.id(), index, spec_);
    RunOptions options;
    options.kill_grace = kill_grace_;
    if (request_.environment.working_dir) options.cwd = *request_.environment.working_dir;
    const auto to_log = [log_fd](std::string_view line) {
      std::string text(line);
      text += '\n';
      (void)!::write(log_fd, text.data(), text.size());
    };
    options.stream_stdout(to_log).stream_stderr(to_log);
    try {
      if (request_.entrypoint.is_python()) return start_python_replica(index, vars, std::move(options));
      if (env_) {
        options.env = vars;
        return env_->run(request_.entrypoint.argv(), std::move(options));
      }
      return start_plain(request_.entrypoint.argv(), plain_environment(vars), std::move(options));
    } catch (...) {
      return failed_future(std::current_exception());
    }
  }

  static Future<ProcessResult> failed_future(std::exception_ptr error) {
    Promise<ProcessResult> promise;
    promise.set_error(std::move(error));
    return promise.future();
  }

  Future<ProcessResult> start_plain(const std::vector<std::string>& argv, std::vector<std::string> env, RunOptions options) {
    const std::string& command = argv.front();
    fs::path executable;
    if (command.find('/') != std::string::npos) {
      const fs::path base = options.cwd ? *options.cwd : fs::current_path();
      executable = fs::path(command).is_absolute() ? fs::path(command) : base / command;
      if (!is_executable_file(executable)) throw CommandNotFound(fmt::format("{}: not an executable file", executable.string()));
    } else {
      executable = find_on_path(command, path_of(env));
      if (executable.empty()) {
        throw CommandNotFound(fmt::format("{}: command not found (not an executable file on PATH {})", command, path_of(env)));
      }
    }
    ProcessSpec spec{std::move(executable), std::vector<std::string>(argv.begin() + 1, argv.end()), std::move(env)};
    return start_process(std::move(spec), std::move(options));
  }

  // The replica is this program in "call" mode, which opens the env (a
  // cache hit: it was built before admission) and calls the function.
  Future<ProcessResult> start_python_replica(int index, const std::map<std::string, std::string>& vars, RunOptions options) {
    json::object input;
    input["request"] = request_to_json(request_, /*redact=*/false);
    json::object env_vars;
    for (const auto& [key, value] : vars) env_vars[key] = value;
    input["vars"] = std::move(env_vars);
    options.input = json::serialize(input);
    const std::string self = self_executable();
    return start_plain({self, "call", dir_.result_file(index).string()}, plain_environment(vars), std::move(options));
  }

  void settle_replica(int index, const Future<ProcessResult>& future) {
    ReplicaInfo settled;
    settled.index = index;
    try {
      const ProcessResult result = future.get();
      settled.exit_code = result.signal == 0 ? std::optional(result.exit_code) : std::nullopt;
      settled.signal = result.signal;
      if (result.ok()) {
        settled.status = JobStatus::succeeded;
        if (request_.entrypoint.is_python()) settled.result = read_file(dir_.result_file(index));
      } else if (events_.stopping()) {
        settled.status = JobStatus::stopped;
        settled.error = describe_end(result);
      } else {
        settled.status = JobStatus::failed;
        settled.error = describe_end(result);
        if (request_.entrypoint.is_python()) settled.error += python_error_of(index);
      }
    } catch (const TaskCancelled&) {
      settled.status = JobStatus::stopped;
      settled.error = "stopped";
    } catch (const std::exception& e) {
      settled.status = events_.stopping() ? JobStatus::stopped : JobStatus::failed;
      settled.error = e.what();
    }
    std::lock_guard lock(mutex_);
    info_.replicas[index] = std::move(settled);
    // The job stays running until finish() decides: a retry may follow,
    // and its share is released first. The last replica's end is written
    // with the job's.
    const bool others_running = std::any_of(info_.replicas.begin(), info_.replicas.end(),
                                            [](const ReplicaInfo& replica) { return replica.status == JobStatus::running; });
    if (others_running) write_status();
  }

  // A Python replica that failed says why in its result file's place.
  std::string python_error_of(int index) const { return python_error_suffix(dir_.result_file(index)); }

  void fail_job(std::string error) {
    std::lock_guard lock(mutex_);
    info_.error = std::move(error);
    for (ReplicaInfo& replica : info_.replicas) {
      replica.status = JobStatus::failed;
      replica.error = info_.error;
    }
  }

  int finish() {
    std::lock_guard lock(mutex_);
    if (events_.stopping()) {
      for (ReplicaInfo& replica : info_.replicas) {
        if (replica.status == JobStatus::pending || replica.status == JobStatus::running) {
          replica.status = JobStatus::stopped;
          replica.error = "stopped";
        }
      }
    }
    info_.status = aggregate_status(info_.replicas);
    if (info_.status == JobStatus::pending) info_.status = JobStatus::stopped;
    if (info_.status == JobStatus::failed && info_.error.empty()) info_.error = failed_replicas_message(info_.replicas);
    if (info_.status == JobStatus::stopped) {
      std::lock_guard events(events_.mutex);
      info_.error = events_.stop_reason.empty() ? "stopped" : events_.stop_reason;
    }
    info_.ended = JobClock::now();
    ledger_.release(dir_.id());
    write_status();
    return 0;
  }

  Events& events_;
  fs::path jobs_dir_;
  JobDirectory dir_;
  JobRequest request_;
  std::string spec_;
  JobLedger ledger_;
  std::chrono::milliseconds kill_grace_;
  JobShare capacity_;
  FileLock lock_;
  bool admitted_ = false;
  std::optional<IsolatedVirtualEnv> env_;
  std::mutex mutex_;
  JobInfo info_;
};

// A spare's output goes to its job's supervisor.log once it has one.
void write_output_to(const std::string& log) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "opening " + log);
  ::dup2(fd, 1);
  ::dup2(fd, 2);
  ::close(fd);
}

}  // namespace

int supervise_job(bool spare) {
  sigset_t handled;
  sigemptyset(&handled);
  for (int signal : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&handled, signal);
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // Leave the launcher: it reaps the first process, the second is nobody's child there.
  const pid_t pid = ::fork();
  if (pid < 0) {
    say(fmt::format("fork: {}", std::strerror(errno)));
    return 1;
  }
  if (pid > 0) ::_exit(0);
  ::close_range(4, ~0U, 0);
  try {
    int input_fd = 0, ready = ready_fd;
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (spare) {
      // The child guard started ahead must hold neither the job's input nor
      // the ready pipe (a spare killed meanwhile would look alive to the
      // launcher while the guard had them): both move to descriptors no
      // child inherits, 0 and 3 to /dev/null. Its job's first replica then
      // will not wait for a child guard to start.
      input_fd = ::fcntl(0, F_DUPFD_CLOEXEC, 4);
      ready = ::fcntl(ready_fd, F_DUPFD_CLOEXEC, 4);
      if (input_fd < 0 || ready < 0 || null < 0) throw std::system_error(errno, std::generic_category(), "fcntl");
      ::dup2(null, 0);
      ::dup2(null, ready_fd);
      start_process_guard_ahead();
    }
    const std::string text = read_to_end(input_fd);
    if (spare && text.empty()) return 0;  // sent away unused
    if (input_fd != 0) ::close(input_fd);
    if (null >= 0) {
      ::dup2(null, 0);
      ::close(null);
    }
    const json::object input = detail::parse_job_json(text).as_object();
    if (spare) write_output_to(std::string(input.at("supervisor_log").as_string()));
    Events& events = *new Events;  // the watcher thread may outlive everything else
    Supervisor supervisor(input, events);
    supervisor.record();
    Watcher watcher(events, handled, open_submitter(input, events));
    (void)!::write(ready, "ok\n", 3);
    ::close(ready);
    if (ready != ready_fd) ::close(ready_fd);
    return supervisor.run();
  } catch (const std::exception& e) {
    say(e.what());
    return 1;
  }
}

int call_python_replica(const char* result_file) {
  const fs::path result_path(result_file);
  const fs::path error_path = python_error_file(result_path);
  try {
    const json::object input = detail::parse_job_json(read_to_end(0)).as_object();
    const JobRequest request = request_from_json(input.at("request"));
    VenvOptions venv = request.environment.venv.value_or(VenvOptions{});
    for (const auto& [key, value] : input.at("vars").as_object()) venv.env[std::string(key)] = std::string(value.as_string());
    IsolatedVirtualEnv env(std::move(venv));
    WorkerPool pool(env, WorkerPoolOptions{}.with_max_workers(1).with_idle_timeout(std::chrono::milliseconds(0)));
    const Entrypoint& entry = request.entrypoint;
    const json::value result = pool.call_json(PythonCallOptions{}, entry.function(), entry.args(), entry.kwargs()).get();
    write_file_atomic(result_path, json_text(result), false);
    return 0;
  } catch (const PythonError& e) {
    std::fprintf(stderr, "%s\n", e.traceback().empty() ? e.what() : e.traceback().c_str());
    write_file_atomic(error_path, e.what(), false);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fray: %s\n", e.what());
    write_file_atomic(error_path, e.what(), false);
    return 1;
  }
}

}  // namespace fray::detail
