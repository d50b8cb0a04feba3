// Cluster: where jobs run (Python Fray's Cluster, Ray's JobSubmissionClient):
// launch, poll, wait, logs, terminate, list. LocalCluster runs them on this
// machine with no daemon; SlurmCluster submits them to Slurm. Everything a
// cluster knows about a job is on disk, so another process (the `fray job`
// command, a restarted driver) sees the same jobs.
//
//   auto cluster = fray::current_cluster();     // FRAY_CLUSTER_SPEC, else local
//   fray::JobHandle job = cluster->submit(request);
//   fray::JobInfo info = job.wait();            // succeeded, failed or stopped
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fray/future.hpp>
#include <fray/job_context.hpp>
#include <fray/stream.hpp>

#include "fray/cluster_spec.hpp"
#include "fray/job_errors.hpp"
#include "fray/job_info.hpp"
#include "fray/job_request.hpp"

namespace fray {

// Which lines logs() and the follow forms give.
struct LogOptions {
  std::optional<int> replica;  // unset: every replica
  // Tag each line "[replica-N] " ("[replica-N attempt-K] " after a retry).
  bool tagged = true;
};

// One replica's output of one attempt, in a file.
struct LogFile {
  int replica = 0;
  int attempt = 0;
  std::string path;
};

class JobHandle;

// Tells wait() which jobs may have changed, so it re-reads those only.
class JobChangeWatch {
 public:
  virtual ~JobChangeWatch() = default;
  // Blocks up to `limit`; the ids that may have changed, or nullopt when it
  // cannot tell (then every unfinished job is polled again).
  virtual std::optional<std::vector<JobId>> wait(std::chrono::milliseconds limit) = 0;
};

class Cluster {
 public:
  using Duration = std::chrono::milliseconds;
  using LineCallback = std::function<void(std::string_view line)>;

  virtual ~Cluster() = default;

  // Starts the job (or queues it) and returns at once. Throws
  // InvalidJobRequest, JobRejected (it can never fit), SlurmError.
  virtual JobId launch(const JobRequest& request) = 0;
  // Throws JobNotFound.
  virtual JobInfo poll(const JobId& id) = 0;
  // Many at once: one query to the backend, not one per job.
  virtual std::vector<JobInfo> poll(const std::vector<JobId>& ids);
  // Stops every replica (SIGTERM, a grace period, SIGKILL) and marks the
  // job stopped; a pending job is stopped without running. A finished job
  // is left as it is.
  virtual void terminate(const JobId& id) = 0;
  // Every job this cluster's state holds, oldest first.
  virtual std::vector<JobInfo> list() = 0;
  // The spec that names this cluster (what FRAY_CLUSTER_SPEC holds inside its jobs).
  virtual std::string spec() const = 0;
  // The files the replicas' output goes to, in replica then attempt order.
  virtual std::vector<LogFile> log_files(const JobId& id) = 0;

  JobHandle submit(const JobRequest& request);

  // Watches `ids` from now on for wait(); nullptr: wait() polls with back-off.
  virtual std::unique_ptr<JobChangeWatch> watch_changes(const std::vector<JobId>& ids);

  // Waits until every job has finished: woken by the backend's change watch
  // when it has one (the local cluster's), else polling with back-off
  // (50 ms, x1.5, up to 2 s); finished jobs are not read again. With raise_on_failure, throws JobFailed naming every job
  // that failed or was stopped; on timeout, JobWaitTimeout.
  std::vector<JobInfo> wait(const std::vector<JobId>& ids, std::optional<Duration> timeout = std::nullopt,
                            bool raise_on_failure = false);
  JobInfo wait(const JobId& id, std::optional<Duration> timeout = std::nullopt, bool raise_on_failure = false);
  // The same as a task of `context` that sleeps between polls (no thread
  // held): co_await it or get() it.
  Future<std::vector<JobInfo>> wait_async(JobContext& context, std::vector<JobId> ids,
                                          std::optional<Duration> timeout = std::nullopt, bool raise_on_failure = false);

  // Everything the replicas have printed so far, one line per line.
  std::string logs(const JobId& id, LogOptions options = {});
  // Each line as it comes, until the job has finished and its output is read.
  void follow_logs(const JobId& id, const LineCallback& on_line, LogOptions options = {});
  // The same as a stream of `context` (a task that sleeps between reads).
  Stream<std::string> follow_logs_async(JobContext& context, JobId id, LogOptions options = {});
};

// A job and the cluster it runs on (Python Fray v2's JobHandle). The
// cluster must outlive it.
class JobHandle {
 public:
  JobHandle(Cluster& cluster, JobId id) : cluster_(&cluster), id_(std::move(id)) {}
  const JobId& id() const noexcept { return id_; }
  JobInfo info() const { return cluster_->poll(id_); }
  JobStatus status() const { return info().status; }
  JobInfo wait(std::optional<Cluster::Duration> timeout = std::nullopt, bool raise_on_failure = false) const {
    return cluster_->wait(id_, timeout, raise_on_failure);
  }
  void terminate() const { cluster_->terminate(id_); }
  std::string logs(LogOptions options = {}) const { return cluster_->logs(id_, options); }

 private:
  Cluster* cluster_;
  JobId id_;
};

// The cluster a spec names (see fray/cluster_spec.hpp).
std::unique_ptr<Cluster> connect_cluster(std::string_view spec);
// The cluster this program runs in: FRAY_CLUSTER_SPEC (set inside every
// job, so nested code launches on the same cluster), else local.
std::unique_ptr<Cluster> current_cluster();

}  // namespace fray
