#include "fray/cluster.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include <fray/task.hpp>

#include "fray/duration_limit.hpp"
#include "fray/local_cluster.hpp"
#include "fray/slurm_cluster.hpp"

namespace fray {

namespace {

// Python Fray's wait_all back-off: 50 ms, x1.5, capped at 2 s.
struct Backoff {
  std::chrono::milliseconds next{50};
  std::chrono::milliseconds take() {
    const auto now = next;
    next = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(2000), next * 3 / 2);
    return now;
  }
};

std::vector<JobInfo> not_succeeded(const std::vector<JobInfo>& infos) {
  std::vector<JobInfo> failed;
  for (const JobInfo& info : infos) {
    if (info.status != JobStatus::succeeded) failed.push_back(info);
  }
  return failed;
}

// What wait() does once every job has finished, or when time is up.
std::vector<JobInfo> finish_wait(std::vector<JobInfo> infos, bool raise_on_failure) {
  if (raise_on_failure) {
    if (auto failed = not_succeeded(infos); !failed.empty()) throw JobFailed(std::move(failed));
  }
  return infos;
}

bool all_finished(const std::vector<JobInfo>& infos) {
  return std::all_of(infos.begin(), infos.end(), [](const JobInfo& info) { return is_finished(info.status); });
}

// When a wait with this timeout gives up; none for no timeout, or one of
// 100 years or more (now() + it would overflow into the past).
std::optional<std::chrono::steady_clock::time_point> deadline_after(std::optional<Cluster::Duration> timeout) {
  if (!timeout || is_never(*timeout)) return std::nullopt;
  check_not_negative(*timeout, "the wait's timeout");
  return std::chrono::steady_clock::now() + *timeout;
}

[[noreturn]] void throw_wait_timeout(const std::vector<JobInfo>& infos) {
  std::string still;
  for (const JobInfo& info : infos) {
    if (is_finished(info.status)) continue;
    still += fmt::format("{}{} ({})", still.empty() ? "" : ", ", info.id, to_string(info.status));
  }
  throw JobWaitTimeout("timed out waiting for jobs: " + still);
}

// Reads the complete lines the log files gained since the last read.
class LogCursor {
 public:
  LogCursor(Cluster& cluster, JobId id, LogOptions options) : cluster_(cluster), id_(std::move(id)), options_(options) {}

  // Each new line, tagged as asked; with `last`, a final line without its
  // newline too (the job has ended, nothing more will come).
  template <class OnLine>
  void read(bool last, OnLine&& on_line) {
    for (const LogFile& file : cluster_.log_files(id_)) {
      if (options_.replica && *options_.replica != file.replica) continue;
      Source& source = sources_[file.path];
      read_new(file, source, last, on_line);
    }
  }

 private:
  struct Source {
    std::uint64_t offset = 0;
    std::string partial;
  };

  template <class OnLine>
  void read_new(const LogFile& file, Source& source, bool last, OnLine& on_line) {
    const int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buffer[65536];
    for (;;) {
      const ssize_t got = ::pread(fd, buffer, sizeof buffer, static_cast<off_t>(source.offset));
      if (got <= 0) break;
      source.offset += static_cast<std::uint64_t>(got);
      source.partial.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(fd);
    std::size_t start = 0;
    for (std::size_t newline; (newline = source.partial.find('\n', start)) != std::string::npos; start = newline + 1) {
      on_line(tag(file) + source.partial.substr(start, newline - start));
    }
    source.partial.erase(0, start);
    if (last && !source.partial.empty()) {
      on_line(tag(file) + source.partial);
      source.partial.clear();
    }
  }

  std::string tag(const LogFile& file) const {
    if (!options_.tagged) return {};
    return file.attempt == 0 ? fmt::format("[replica-{}] ", file.replica) : fmt::format("[replica-{} attempt-{}] ", file.replica, file.attempt);
  }

  Cluster& cluster_;
  JobId id_;
  LogOptions options_;
  std::map<std::string, Source> sources_;
};

Task<std::vector<JobInfo>> wait_task(Cluster* cluster, std::vector<JobId> ids, std::optional<Cluster::Duration> timeout,
                                     bool raise_on_failure) {
  const auto deadline = deadline_after(timeout);
  Backoff backoff;
  for (;;) {
    std::vector<JobInfo> infos = cluster->poll(ids);
    if (all_finished(infos)) co_return finish_wait(std::move(infos), raise_on_failure);
    auto pause = backoff.take();
    if (deadline) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= *deadline) throw_wait_timeout(infos);
      pause = std::min(pause, std::chrono::ceil<std::chrono::milliseconds>(*deadline - now));
    }
    co_await current_context().sleep(pause);
  }
}

Generator<std::string> follow_task(Cluster* cluster, JobId id, LogOptions options) {
  LogCursor cursor(*cluster, id, options);
  for (;;) {
    const bool finished = is_finished(cluster->poll(id).status);
    std::vector<std::string> lines;
    cursor.read(finished, [&](std::string line) { lines.push_back(std::move(line)); });
    for (std::string& line : lines) co_yield std::move(line);
    if (finished) co_return;
    if (lines.empty()) co_await current_context().sleep(std::chrono::milliseconds(100));
  }
}

}  // namespace

std::vector<JobInfo> Cluster::poll(const std::vector<JobId>& ids) {
  std::vector<JobInfo> infos;
  infos.reserve(ids.size());
  for (const JobId& id : ids) infos.push_back(poll(id));
  return infos;
}

JobHandle Cluster::submit(const JobRequest& request) { return JobHandle(*this, launch(request)); }

std::unique_ptr<JobChangeWatch> Cluster::watch_changes(const std::vector<JobId>&) { return nullptr; }

std::vector<JobInfo> Cluster::wait(const std::vector<JobId>& ids, std::optional<Duration> timeout, bool raise_on_failure) {
  const auto deadline = deadline_after(timeout);
  // Watching starts before the first poll, so no change falls in between.
  const std::unique_ptr<JobChangeWatch> watch = watch_changes(ids);
  std::vector<JobInfo> infos = poll(ids);
  std::map<JobId, std::size_t> unfinished;
  for (std::size_t i = 0; i < infos.size(); ++i) {
    if (!is_finished(infos[i].status)) unfinished.emplace(infos[i].id, i);
  }
  Backoff backoff;
  while (!unfinished.empty()) {
    // With a watch, a full poll every 2 s still catches what no file
    // change shows (a supervisor killed outright).
    auto pause = watch ? std::chrono::milliseconds(2000) : backoff.take();
    if (deadline) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= *deadline) throw_wait_timeout(infos);
      pause = std::min(pause, std::chrono::ceil<std::chrono::milliseconds>(*deadline - now));
    }
    std::vector<JobId> again;
    std::optional<std::vector<JobId>> changed;
    if (watch) {
      changed = watch->wait(pause);
    } else {
      std::this_thread::sleep_for(pause);
    }
    if (changed && !changed->empty()) {
      for (const JobId& id : *changed) {
        if (unfinished.contains(id)) again.push_back(id);
      }
    } else {
      for (const auto& entry : unfinished) again.push_back(entry.first);
    }
    if (again.empty()) continue;
    std::vector<JobInfo> fresh = poll(again);
    for (JobInfo& info : fresh) {
      const auto found = unfinished.find(info.id);
      if (found == unfinished.end()) continue;
      const std::size_t index = found->second;
      if (is_finished(info.status)) unfinished.erase(found);
      infos[index] = std::move(info);
    }
  }
  return finish_wait(std::move(infos), raise_on_failure);
}

JobInfo Cluster::wait(const JobId& id, std::optional<Duration> timeout, bool raise_on_failure) {
  return wait(std::vector<JobId>{id}, timeout, raise_on_failure).front();
}

Future<std::vector<JobInfo>> Cluster::wait_async(JobContext& context, std::vector<JobId> ids, std::optional<Duration> timeout,
                                                 bool raise_on_failure) {
  return context.run(wait_task, this, std::move(ids), timeout, raise_on_failure);
}

std::string Cluster::logs(const JobId& id, LogOptions options) {
  const bool finished = is_finished(poll(id).status);
  std::string text;
  LogCursor cursor(*this, id, options);
  cursor.read(finished, [&](const std::string& line) {
    text += line;
    text += '\n';
  });
  return text;
}

void Cluster::follow_logs(const JobId& id, const LineCallback& on_line, LogOptions options) {
  LogCursor cursor(*this, id, options);
  for (;;) {
    const bool finished = is_finished(poll(id).status);
    bool any = false;
    cursor.read(finished, [&](const std::string& line) {
      any = true;
      on_line(line);
    });
    if (finished) return;
    if (!any) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Stream<std::string> Cluster::follow_logs_async(JobContext& context, JobId id, LogOptions options) {
  return context.run(follow_task, this, std::move(id), options);
}

std::unique_ptr<Cluster> connect_cluster(std::string_view text) {
  const ClusterSpec spec = ClusterSpec::parse(text);
  if (spec.scheme == "slurm") return std::make_unique<SlurmCluster>(SlurmClusterOptions::from_spec(spec));
  return std::make_unique<LocalCluster>(LocalClusterOptions::from_spec(spec));
}

std::unique_ptr<Cluster> current_cluster() {
  const char* spec = std::getenv("FRAY_CLUSTER_SPEC");
  return connect_cluster(spec != nullptr && *spec != '\0' ? spec : "local");
}

}  // namespace fray
