// JobInfo: what a cluster knows about one job (Python Fray's JobInfo): its
// status, one status per replica, the error, when it started and ended.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fray {

using JobId = std::string;

enum class JobStatus { pending, running, succeeded, failed, stopped };

std::string_view to_string(JobStatus status) noexcept;
std::optional<JobStatus> job_status_from(std::string_view word) noexcept;
// succeeded, failed or stopped: it will not change again.
inline bool is_finished(JobStatus status) noexcept {
  return status == JobStatus::succeeded || status == JobStatus::failed || status == JobStatus::stopped;
}

struct ReplicaInfo {
  int index = 0;
  JobStatus status = JobStatus::pending;
  std::optional<int> exit_code;  // when it exited
  int signal = 0;                // the signal that killed it, else 0
  std::string error;             // why it failed, else empty
  // A Python entrypoint's result as JSON text, once it returned.
  std::optional<std::string> result;
};

using JobClock = std::chrono::system_clock;

struct JobInfo {
  JobId id;
  std::string name;
  JobStatus status = JobStatus::pending;
  std::vector<ReplicaInfo> replicas;
  std::string error;      // the failed replicas' errors joined, or why the job failed
  int attempt = 0;        // 0 for the first run, 1 after the first retry...
  std::optional<JobClock::time_point> submitted, started, ended;
  // The backend's own id (the Slurm job id), when it has one.
  std::string native_id;
};

// Python Fray's aggregation: any replica running → running; else any
// failed → failed; else any stopped → stopped; else all succeeded →
// succeeded; else pending.
JobStatus aggregate_status(const std::vector<ReplicaInfo>& replicas) noexcept;
// "replica 1: exited with status 1; replica 2: killed by SIGKILL".
std::string failed_replicas_message(const std::vector<ReplicaInfo>& replicas);

}  // namespace fray
