// SlurmCluster: jobs on the Slurm cluster this machine submits to. launch()
// writes a batch script (bash, srun and the job's env are all it needs on
// the nodes) and submits it with `sbatch --parsable`: one Slurm task per
// replica, SLURM_PROCID as FRAY_REPLICA_ID, one output file per replica,
// env vars exported explicitly (never the submitter's whole environment).
// The job's env is built in the cache directory before submitting: it must
// be on a filesystem the nodes share.
//
// poll() reads squeue, then sacct when accounting answers, else
// `scontrol show job`, one call for many jobs, and resubmits after a
// preemption (PREEMPTED, NODE_FAIL, BOOT_FAIL) up to max_retries_preemption
// and after a failure up to max_retries_failure.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "fray/cluster.hpp"

namespace fray {

struct SlurmClusterOptions {
  std::optional<std::string> partition, account, qos, time;
  // The QOS that non-preemptible jobs (ResourceConfig::preemptible false) get.
  std::optional<std::string> nonpreemptible_qos;
  // Where fray keeps its Slurm jobs' scripts, state and output; unset:
  // $FRAY_CACHE_DIR/slurm-jobs (else the env cache's default directory).
  std::optional<std::filesystem::path> jobs_dir;

  // "slurm?partition=P&account=A&qos=Q&time=HH:MM:SS". Throws InvalidClusterSpec.
  static SlurmClusterOptions from_spec(const ClusterSpec& spec);
};

class SlurmCluster final : public Cluster {
 public:
  explicit SlurmCluster(SlurmClusterOptions options = {});

  JobId launch(const JobRequest& request) override;
  JobInfo poll(const JobId& id) override;
  std::vector<JobInfo> poll(const std::vector<JobId>& ids) override;
  void terminate(const JobId& id) override;
  std::vector<JobInfo> list() override;
  std::string spec() const override;
  std::vector<LogFile> log_files(const JobId& id) override;

  const std::filesystem::path& jobs_dir() const noexcept { return jobs_dir_; }

 private:
  SlurmClusterOptions options_;
  std::filesystem::path jobs_dir_;
};

}  // namespace fray
