// One job's directory, shared by the backends and the supervisor:
//   <jobs dir>/<id>/request.json   the request, credentials redacted
//   <jobs dir>/<id>/status.json    the JobInfo, replaced atomically
//   <jobs dir>/<id>/logs/replica-N.log, replica-N.attempt-K.log
//   <jobs dir>/<id>/result-N.json  a Python entrypoint's result
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fray/cluster.hpp"
#include "fray/job_info.hpp"
#include "fray/job_request.hpp"

namespace fray::detail {

class JobDirectory {
 public:
  JobDirectory(std::filesystem::path jobs_dir, JobId id) : root_(jobs_dir / id), id_(std::move(id)) {}

  // A new, unique id "<name>-<yyyymmdd-hhmmss>-<6 hex>" and its directory
  // (created here, so two processes never get the same one).
  static JobDirectory create(const std::filesystem::path& jobs_dir, const std::string& name);
  // Throws JobNotFound when there is no such job.
  static JobDirectory open(const std::filesystem::path& jobs_dir, const JobId& id);

  const JobId& id() const noexcept { return id_; }
  const std::filesystem::path& root() const noexcept { return root_; }
  std::filesystem::path request_file() const { return root_ / "request.json"; }
  std::filesystem::path status_file() const { return root_ / "status.json"; }
  std::filesystem::path logs_dir() const { return root_ / "logs"; }
  std::filesystem::path log_file(int replica, int attempt) const;
  std::filesystem::path result_file(int replica) const { return root_ / ("result-" + std::to_string(replica) + ".json"); }

  void write_request(const JobRequest& request) const;
  // nullopt when there is no status yet (the job is being launched).
  std::optional<JobInfo> read_status() const;
  void write_status(const JobInfo& info) const;
  // Every log file, in replica then attempt order.
  std::vector<LogFile> log_files() const;

 private:
  std::filesystem::path root_;
  JobId id_;
};

// Checks an id names a directory inside the jobs dir (no '/', no "..").
bool is_valid_job_id(std::string_view id) noexcept;

// Makes `dir` and each missing directory above it 0700, whatever the umask
// (jobs hold commands and output only their owner may read, and they live
// in the env cache, which fray refuses when its group may write to it).
void create_private_directories(const std::filesystem::path& dir);

// What every replica sees besides the env's own variables: FRAY_JOB_ID,
// FRAY_JOB_NAME, FRAY_REPLICA_ID, FRAY_REPLICA_COUNT, FRAY_CLUSTER_SPEC and
// its resources (FRAY_JOB_CPU, FRAY_JOB_RAM, FRAY_JOB_GPU), which a Runtime
// inside the job takes its capacity from. FRAY_REPLICA_ID only when
// `replica` is set (Slurm sets it from SLURM_PROCID).
std::map<std::string, std::string> replica_variables(const JobRequest& request, const JobId& id,
                                                     std::optional<int> replica, const std::string& cluster_spec);

}  // namespace fray::detail
