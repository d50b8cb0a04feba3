// SlurmCluster: jobs on the Slurm cluster this machine submits to. launch()
// writes a batch script (bash, srun and the job's env are all it needs on
// the nodes; a Python entrypoint also needs fray-job-supervisor there) and
// submits it with `sbatch --parsable --export=NIL`: one Slurm task per
// replica, SLURM_PROCID as FRAY_REPLICA_ID, one output file per replica,
// env vars exported explicitly by the script (never the submitter's whole
// environment: the share InheritEnv::minimal passes, or the job env's
// policy, plus the job's own and fray's variables).
// The job's env is built in the cache directory before submitting, and the
// job directory holds the scripts, the replicas' exit statuses and output:
// both must be on a filesystem the nodes share.
//
// poll() reads squeue (one call for many jobs), then sacct when accounting
// answers, else `scontrol show job`, and resubmits after a preemption
// (PREEMPTED, NODE_FAIL, BOOT_FAIL) up to max_retries_preemption and after
// a failure (FAILED, OUT_OF_MEMORY, TIMEOUT) up to max_retries_failure.
// Each replica's status comes from the exit status its script records.
// A finished job's status.json is final: it is never queried again.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "fray/cluster.hpp"
#include "fray/duration_limit.hpp"

namespace fray {

struct SlurmClusterOptions {
  std::optional<std::string> partition, account, qos;
  // Slurm's forms: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, INFINITE.
  std::optional<std::string> time;
  // The QOS that non-preemptible jobs (ResourceConfig::preemptible false) get.
  std::optional<std::string> nonpreemptible_qos;
  // Where fray keeps its Slurm jobs' scripts, state and output; unset:
  // $FRAY_CACHE_DIR/slurm-jobs (else the env cache's default directory).
  std::optional<std::filesystem::path> jobs_dir;
  // How long terminate() waits for Slurm to report the job gone after
  // scancel before it records the job stopped anyway.
  std::chrono::milliseconds stop_timeout = std::chrono::seconds(60);

  SlurmClusterOptions& with_partition(std::string value) { partition = std::move(value); return *this; }
  SlurmClusterOptions& with_account(std::string value) { account = std::move(value); return *this; }
  SlurmClusterOptions& with_qos(std::string value) { qos = std::move(value); return *this; }
  SlurmClusterOptions& with_time(std::string value) { time = std::move(value); return *this; }
  SlurmClusterOptions& with_nonpreemptible_qos(std::string value) { nonpreemptible_qos = std::move(value); return *this; }
  SlurmClusterOptions& with_jobs_dir(std::filesystem::path dir) { jobs_dir = std::move(dir); return *this; }
  // Any duration type; saturated at fray::never_duration (100 years: never), so
  // hours::max() means never rather than overflowing milliseconds.
  template <class Rep, class Period>
  SlurmClusterOptions& with_stop_timeout(std::chrono::duration<Rep, Period> value) {
    stop_timeout = clamp_duration<std::chrono::milliseconds>(value);
    return *this;
  }

  // "slurm?partition=P&account=A&qos=Q&time=HH:MM:SS&nonpreemptible_qos=Q2&dir=D".
  // Throws InvalidClusterSpec naming a bad value.
  static SlurmClusterOptions from_spec(const ClusterSpec& spec);
};

class SlurmCluster final : public Cluster {
 public:
  // Throws InvalidClusterSpec for a bad time or name in `options`. Needs no
  // Slurm: a missing sbatch or squeue is a SlurmError when first needed.
  explicit SlurmCluster(SlurmClusterOptions options = {});

  // Throws InvalidJobRequest, JobRejected (a TPU), SlurmError (Slurm's own
  // message: a bad partition, more than a node has, the controller down,
  // no sbatch), a RuntimeEnvError when the job's env cannot be built.
  JobId launch(const JobRequest& request) override;
  JobInfo poll(const JobId& id) override;
  // One squeue call for all of them (plus sacct or scontrol for the ones
  // squeue no longer knows). Throws SlurmError when Slurm does not answer.
  std::vector<JobInfo> poll(const std::vector<JobId>& ids) override;
  // scancel, then waits (up to stop_timeout) for Slurm to say it is gone.
  void terminate(const JobId& id) override;
  std::vector<JobInfo> list() override;
  std::string spec() const override;
  std::vector<LogFile> log_files(const JobId& id) override;

  const std::filesystem::path& jobs_dir() const noexcept { return jobs_dir_; }

 private:
  SlurmClusterOptions options_;
  std::filesystem::path jobs_dir_;
  // Whether sacct answers here: 0 not asked yet, 1 it does, 2 accounting is
  // disabled (then `scontrol show job` is asked instead).
  std::atomic<int> accounting_{0};
};

}  // namespace fray
