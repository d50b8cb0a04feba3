#include "fray/job_info.hpp"

#include <csignal>
#include <cstring>

#include <fmt/format.h>

#include "fray/job_errors.hpp"

namespace fray {

std::string_view to_string(JobStatus status) noexcept {
  switch (status) {
    case JobStatus::pending: return "pending";
    case JobStatus::running: return "running";
    case JobStatus::succeeded: return "succeeded";
    case JobStatus::failed: return "failed";
    case JobStatus::stopped: return "stopped";
  }
  return "unknown";
}

std::optional<JobStatus> job_status_from(std::string_view word) noexcept {
  for (JobStatus status : {JobStatus::pending, JobStatus::running, JobStatus::succeeded, JobStatus::failed, JobStatus::stopped}) {
    if (to_string(status) == word) return status;
  }
  return std::nullopt;
}

JobStatus aggregate_status(const std::vector<ReplicaInfo>& replicas) noexcept {
  bool any_failed = false, any_stopped = false, any_pending = false, all_succeeded = !replicas.empty();
  for (const ReplicaInfo& replica : replicas) {
    if (replica.status == JobStatus::running) return JobStatus::running;
    any_failed |= replica.status == JobStatus::failed;
    any_stopped |= replica.status == JobStatus::stopped;
    any_pending |= replica.status == JobStatus::pending;
    all_succeeded &= replica.status == JobStatus::succeeded;
  }
  if (any_failed) return JobStatus::failed;
  if (any_stopped) return JobStatus::stopped;
  if (all_succeeded) return JobStatus::succeeded;
  (void)any_pending;
  return JobStatus::pending;
}

std::string failed_replicas_message(const std::vector<ReplicaInfo>& replicas) {
  std::string message;
  for (const ReplicaInfo& replica : replicas) {
    if (replica.status != JobStatus::failed) continue;
    if (!message.empty()) message += "; ";
    message += fmt::format("replica {}: {}", replica.index, replica.error.empty() ? "failed" : replica.error);
  }
  return message;
}

namespace {

std::string failed_jobs_message(const std::vector<JobInfo>& jobs) {
  std::string message = jobs.size() == 1 ? "1 job did not succeed: " : fmt::format("{} jobs did not succeed: ", jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (i > 0) message += "; ";
    message += fmt::format("{} ({}{}{})", jobs[i].id, to_string(jobs[i].status), jobs[i].error.empty() ? "" : ": ", jobs[i].error);
  }
  return message;
}

}  // namespace

JobFailed::JobFailed(std::vector<JobInfo> jobs) : JobError(failed_jobs_message(jobs)), jobs_(std::move(jobs)) {}

}  // namespace fray
