#include "fray/local_cluster.hpp"
#include "fray/duration_limit.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <fray/detail/env_spec.hpp>
#include <fray/detail/child_environment.hpp>
#include <fray/detail/fs_util.hpp>
#include "fray/detail/install_layout.hpp"
#include "fray/detail/unique_fd.hpp"

#include "fray/byte_size.hpp"
#include "fray/detail/job_directory.hpp"
#include "fray/detail/job_json.hpp"
#include "fray/detail/job_ledger.hpp"
#include "fray/detail/job_supervisor.hpp"
#include "fray/detail/supervisor_launch.hpp"

#ifndef FRAY_JOB_SUPERVISOR_BUILT
#error "FRAY_JOB_SUPERVISOR_BUILT (fray-job-supervisor in fray's build tree, relative) must be defined by the build"
#endif
#ifndef FRAY_JOB_SUPERVISOR_INSTALLED
#error "FRAY_JOB_SUPERVISOR_INSTALLED (libexec/fray/fray-job-supervisor, relative to the prefix) must be defined by the build"
#endif

extern char** environ;

namespace fray {

namespace fs = std::filesystem;

namespace {

fs::path default_jobs_dir() { return detail::default_cache_dir(detail::snapshot_environ()) / "jobs"; }

std::uint64_t machine_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? std::uint64_t(pages) * std::uint64_t(page) : 0;
}

// The GPUs `nvidia-smi -L` lists, or 0 when it is not installed.
int machine_gpus() {
  const char* path_var = std::getenv("PATH");
  const fs::path smi = detail::find_on_path("nvidia-smi", path_var == nullptr ? "" : path_var);
  if (smi.empty()) return 0;
  FILE* pipe = ::popen((smi.string() + " -L 2>/dev/null").c_str(), "re");
  if (pipe == nullptr) return 0;
  int count = 0;
  char line[512];
  while (std::fgets(line, sizeof line, pipe) != nullptr) count += std::string_view(line).starts_with("GPU ");
  ::pclose(pipe);
  return count;
}

detail::JobShare need_of(const JobRequest& request) {
  const double replicas = request.replicas;
  return {request.resources.cpu * replicas, request.resources.ram * std::uint64_t(request.replicas),
          request.resources.gpu_count() * request.replicas};
}

std::string format_cpu(double cpu) { return fmt::format("{}", cpu); }

}  // namespace

namespace detail {

SpareSupervisorSlot::SpareSupervisorSlot() = default;
SpareSupervisorSlot::~SpareSupervisorSlot() = default;

namespace {
std::vector<fs::path> job_supervisor_candidates() {
  return fray_file_candidates(FrayFile{FRAY_JOB_SUPERVISOR_INSTALLED, FRAY_JOB_SUPERVISOR_BUILT});
}
}  // namespace

const std::string& job_supervisor_path() {
  static const std::string path = [] {
    if (const char* configured = std::getenv("FRAY_JOB_SUPERVISOR"); configured != nullptr && *configured != '\0') {
      return std::string(configured);
    }
    for (const fs::path& candidate : job_supervisor_candidates()) {
      if (is_executable_file(candidate)) return candidate.string();
    }
    return std::string();
  }();
  if (path.empty() || !is_executable_file(path)) {
    throw JobError(fmt::format("fray's job supervisor {}; set FRAY_JOB_SUPERVISOR to its path (or FRAY_PREFIX to "
                               "fray's install prefix)",
                               not_found_in(job_supervisor_candidates())));
  }
  return path;
}

}  // namespace detail

namespace {

// A job whose supervisor has not written a status yet: pending, as its
// request describes it.
JobInfo pending_from_request(const detail::JobDirectory& dir) {
  JobInfo info;
  info.id = dir.id();
  boost::system::error_code error;
  const boost::json::value request = detail::parse_job_json(detail::read_file(dir.request_file()).value_or("{}"), error);
  if (!error && request.is_object()) {
    if (const auto* name = request.as_object().if_contains("name"); name != nullptr && name->is_string()) info.name = name->as_string();
    if (const auto* replicas = request.as_object().if_contains("replicas"); replicas != nullptr && replicas->is_int64()) {
      for (int i = 0; i < replicas->as_int64(); ++i) {
        ReplicaInfo replica;
        replica.index = i;
        info.replicas.push_back(replica);
      }
    }
  }
  struct stat st {};
  if (::stat(dir.request_file().c_str(), &st) == 0) {
    info.submitted = JobClock::time_point(std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec));
  }
  return info;
}

}  // namespace

LocalClusterOptions LocalClusterOptions::from_spec(const ClusterSpec& spec) {
  if (spec.scheme != "local") throw InvalidClusterSpec(fmt::format("'{}' is not a local cluster spec", spec.text()));
  LocalClusterOptions options;
  if (const std::string* cpu = spec.find("cpu")) {
    char* end = nullptr;
    const double value = std::strtod(cpu->c_str(), &end);
    if (end == cpu->c_str() || *end != '\0' || !(value > 0) || !std::isfinite(value)) {
      throw InvalidClusterSpec(fmt::format("cluster spec '{}': cpu={} is not a positive number", spec.text(), *cpu));
    }
    options.cpu = value;
  }
  if (const std::string* ram = spec.find("ram")) {
    const auto bytes = parse_byte_size(*ram);
    if (!bytes || *bytes == 0) throw InvalidClusterSpec(fmt::format("cluster spec '{}': ram={} is not a size above 0 and up to 8E", spec.text(), *ram));
    options.ram = *bytes;
  }
  if (const std::string* gpu = spec.find("gpu")) {
    char* end = nullptr;
    const long value = std::strtol(gpu->c_str(), &end, 10);
    if (end == gpu->c_str() || *end != '\0' || value < 0 || value > 1 << 20) {
      throw InvalidClusterSpec(fmt::format("cluster spec '{}': gpu={} is not a GPU count", spec.text(), *gpu));
    }
    options.gpu = static_cast<int>(value);
  }
  if (const std::string* dir = spec.find("dir")) options.jobs_dir = *dir;
  return options;
}

LocalCluster::LocalCluster(LocalClusterOptions options) : options_(std::move(options)) {
  jobs_dir_ = options_.jobs_dir ? *options_.jobs_dir : default_jobs_dir();
  // Jobs hold other people's commands and output: only their owner reads them.
  detail::create_private_directories(jobs_dir_);
  jobs_dir_ = fs::canonical(jobs_dir_);
  cpu_ = options_.cpu.value_or(double(std::max(1u, std::thread::hardware_concurrency())));
  ram_ = options_.ram.value_or(machine_memory());
  gpu_ = options_.gpu ? *options_.gpu : machine_gpus();
}

std::string LocalCluster::spec() const {
  ClusterSpec spec{"local", {}};
  if (options_.cpu) spec.params["cpu"] = format_cpu(*options_.cpu);
  if (options_.ram) spec.params["ram"] = std::to_string(*options_.ram);
  if (options_.gpu) spec.params["gpu"] = std::to_string(*options_.gpu);
  if (options_.jobs_dir) spec.params["dir"] = jobs_dir_.string();
  return spec.text();
}

JobId LocalCluster::launch(const JobRequest& request) {
  validate(request);
  const detail::JobShare need = need_of(request);
  const detail::JobShare capacity{cpu_, ram_, gpu_};
  if (need.cpu > capacity.cpu + 1e-9 || need.ram > capacity.ram || need.gpu > capacity.gpu) {
    throw JobRejected(fmt::format(
        "job '{}' can never run on this machine: its {} replica(s) need cpu {}, ram {}, gpu {}; the local cluster has cpu {}, "
        "ram {}, gpu {}",
        request.name, request.replicas, need.cpu, format_byte_size(need.ram), need.gpu, capacity.cpu,
        format_byte_size(capacity.ram), capacity.gpu));
  }
  const detail::JobDirectory dir = detail::JobDirectory::create(jobs_dir_, request.name);
  try {
    dir.write_request(request);
    boost::json::object input;
    input["jobs_dir"] = jobs_dir_.string();
    input["id"] = dir.id();
    input["request"] = detail::request_to_json(request, /*redact=*/false);
    input["spec"] = spec();
    input["capacity"] = {{"cpu", capacity.cpu}, {"ram", capacity.ram}, {"gpu", capacity.gpu}};
    input["kill_grace_ms"] = options_.kill_grace.count();
    if (options_.die_with_submitter) {
      input["submitter_pid"] = ::getpid();
      input["submitter_start_time"] = detail::process_start_time(::getpid());
    }
    const fs::path log = dir.root() / "supervisor.log";
    input["supervisor_log"] = log.string();
    const std::string answer = start_supervisor(dir.id(), boost::json::serialize(input), log);
    if (answer != "ok\n") {
      const std::string log = detail::read_file(dir.root() / "supervisor.log").value_or("");
      throw JobError(fmt::format("job '{}': its supervisor did not start{}{}", request.name, log.empty() ? "" : ": ", log));
    }
  } catch (...) {
    detail::remove_tree(dir.root());
    throw;
  }
  return dir.id();
}

// The job's supervisor: a spare started ahead if one fits, else a fresh
// one. From its second launch on, a cluster keeps a spare for the next.
std::string LocalCluster::start_supervisor(const JobId& id, const std::string& input, const fs::path& log) {
  std::unique_ptr<detail::SpareSupervisor> spare;
  bool keep_spare = false;
  {
    std::lock_guard lock(spares_->mutex);
    spare = std::move(spares_->spare);
    keep_spare = options_.keep_spare_supervisor && ++spares_->launches >= 2;
  }
  std::optional<std::string> answer;
  if (spare) answer = spare->hand(input);
  spare.reset();  // one that could not take the job is sent away
  // A spare that died after it was handed the job, before it said the job
  // had started (killed by someone, say), ran none of it: a fresh one
  // starts it. One that said why it failed has failed the job, as a fresh
  // one would.
  if (answer && *answer != "ok\n" && detail::read_file(log).value_or("").empty()) {
    detail::forget_unstarted_supervisor(jobs_dir_, id);
    answer.reset();
  }
  if (!answer) answer = detail::run_supervisor(log, input);
  if (keep_spare) {
    std::lock_guard lock(spares_->mutex);
    if (!spares_->spare) spares_->spare = detail::SpareSupervisor::start(jobs_dir_);
  }
  return *answer;
}

JobInfo LocalCluster::poll(const JobId& id) {
  const detail::JobDirectory dir = detail::JobDirectory::open(jobs_dir_, id);
  std::optional<JobInfo> info = dir.read_status();
  if (!info) return pending_from_request(dir);
  if (!is_finished(info->status)) {
    if (auto settled = detail::settle_dead_supervisor(jobs_dir_, id)) return *settled;
  }
  return *info;
}

void LocalCluster::terminate(const JobId& id) {
  const detail::JobDirectory dir = detail::JobDirectory::open(jobs_dir_, id);
  detail::write_file(detail::stop_request_file(jobs_dir_, id), "stop\n");
  // Returns once the job says it is finished: the supervisor stops the
  // replicas within the grace period, then reports. Its pid file may not
  // be complete yet when the job has only just been launched: read again.
  int signalled = 0;
  const auto deadline = std::chrono::steady_clock::now() + clamp_duration<std::chrono::milliseconds>(options_.kill_grace) + std::chrono::seconds(30);
  while (!is_finished(poll(id).status)) {
    if (signalled == 0) {
      const auto pid_text = detail::read_file(dir.root() / "supervisor.pid");
      int pid = 0;
      unsigned long long start_time = 0;
      if (pid_text && std::sscanf(pid_text->c_str(), "%d %llu", &pid, &start_time) == 2 && pid > 0 &&
          detail::process_start_time(pid) == start_time) {
        ::kill(pid, SIGTERM);
        signalled = pid;
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw JobError(fmt::format("job '{}' did not stop within {} s of SIGTERM to its supervisor (pid {})", id,
                                 std::chrono::duration_cast<std::chrono::seconds>(options_.kill_grace).count() + 30, signalled));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<JobInfo> LocalCluster::list() {
  std::vector<JobInfo> infos;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(jobs_dir_, error)) {
    if (!entry.is_directory(error)) continue;
    try {
      infos.push_back(poll(entry.path().filename().string()));
    } catch (const JobError&) {
      // A directory that is not a job, or one being removed: not listed.
    }
  }
  std::sort(infos.begin(), infos.end(), [](const JobInfo& a, const JobInfo& b) {
    return std::tie(a.submitted, a.id) < std::tie(b.submitted, b.id);
  });
  return infos;
}

std::vector<LogFile> LocalCluster::log_files(const JobId& id) { return detail::JobDirectory::open(jobs_dir_, id).log_files(); }

namespace {

// Watches each job's directory for a new status.json (write_file_atomic
// renames it into place), and nothing else, on an inotify descriptor taken
// from the cluster's pool and handed back afterwards: closing an inotify
// descriptor waits for an RCU grace period (10-20 ms here), which every
// wait() would otherwise pay.
class InotifyJobWatch final : public JobChangeWatch {
 public:
  InotifyJobWatch(detail::InotifyPool& pool, const fs::path& jobs_dir, const std::vector<JobId>& ids) : pool_(pool), fd_(pool.take()) {
    if (fd_ < 0) return;
    for (const JobId& id : ids) {
      const int wd = ::inotify_add_watch(fd_, (jobs_dir / id).c_str(), IN_MOVED_TO | IN_DELETE_SELF);
      if (wd >= 0) ids_[wd] = id;
    }
  }
  ~InotifyJobWatch() override {
    if (fd_ < 0) return;
    for (const auto& entry : ids_) ::inotify_rm_watch(fd_, entry.first);
    drain();  // what is left (IN_IGNORED for each removed watch) must not reach the next user
    pool_.give_back(fd_);
  }

  std::optional<std::vector<JobId>> wait(std::chrono::milliseconds limit) override {
    if (fd_ < 0 || ids_.empty()) {
      std::this_thread::sleep_for(limit);
      return std::nullopt;
    }
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(std::min<std::int64_t>(limit.count(), 1 << 30))) <= 0) return std::nullopt;
    std::set<JobId> changed;
    bool overflow = false;
    drain([&](const inotify_event& event) {
      overflow |= (event.mask & IN_Q_OVERFLOW) != 0;
      // Only a new status.json counts: opening a lock file there (as
      // poll() does) must not wake this again.
      const bool status = (event.mask & IN_DELETE_SELF) || (event.len > 0 && std::string_view(event.name) == "status.json");
      if (const auto found = ids_.find(event.wd); status && found != ids_.end()) changed.insert(found->second);
    });
    if (overflow) return std::nullopt;
    return std::vector<JobId>(changed.begin(), changed.end());
  }

 private:
  template <class OnEvent = void (*)(const inotify_event&)>
  void drain(OnEvent&& on_event = [](const inotify_event&) {}) {
    alignas(inotify_event) char buffer[16384];
    for (;;) {
      const ssize_t got = ::read(fd_, buffer, sizeof buffer);
      if (got <= 0) return;
      for (char* at = buffer; at < buffer + got;) {
        const auto* event = reinterpret_cast<const inotify_event*>(at);
        on_event(*event);
        at += sizeof(inotify_event) + event->len;
      }
    }
  }

  detail::InotifyPool& pool_;
  int fd_;
  std::map<int, JobId> ids_;
};

}  // namespace

detail::InotifyPool::~InotifyPool() {
  for (int fd : idle_) ::close(fd);
}

int detail::InotifyPool::take() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      const int fd = idle_.back();
      idle_.pop_back();
      return fd;
    }
  }
  return ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
}

void detail::InotifyPool::give_back(int fd) {
  std::lock_guard lock(mutex_);
  idle_.push_back(fd);
}

std::unique_ptr<JobChangeWatch> LocalCluster::watch_changes(const std::vector<JobId>& ids) {
  return std::make_unique<InotifyJobWatch>(*inotify_, jobs_dir_, ids);
}

std::size_t LocalCluster::gc(JobClock::time_point before) {
  std::size_t removed = 0;
  for (const JobInfo& info : list()) {
    if (!is_finished(info.status) || !info.ended || *info.ended >= before) continue;
    if (detail::supervisor_alive(jobs_dir_, info.id)) continue;
    removed += detail::remove_tree(jobs_dir_ / info.id) ? 1 : 0;
  }
  return removed;
}

}  // namespace fray
