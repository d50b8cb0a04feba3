// LocalCluster: jobs on this machine, with no daemon. launch() starts one
// detached supervisor per job (fray-job-supervisor) that outlives the
// submitter, waits for its turn against the machine's capacity, runs the
// replicas through fray's one launcher (each in its own process group, in
// the job's env when it has one), and keeps everything under
// <jobs dir>/<id>/: request.json (index credentials redacted), status.json
// (replaced atomically), logs/replica-N[.attempt-K].log, result-N.json.
//
// Admission: every supervisor on the machine shares <jobs dir>/ledger.json
// under a lock. Jobs that do not fit wait, in submission order; a job that
// can never fit is refused at launch. A supervisor that dies holds nothing:
// its entry is reclaimed and its job reported failed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>
#include <optional>
#include <string>

#include "fray/cluster.hpp"
#include "fray/duration_limit.hpp"

namespace fray {

struct LocalClusterOptions {
  // Where jobs are kept; unset: $FRAY_CACHE_DIR/jobs (else the env cache's
  // default directory, /jobs).
  std::optional<std::filesystem::path> jobs_dir;
  // The machine's capacity; unset: the core count, the memory, the GPUs
  // that `nvidia-smi -L` lists.
  std::optional<double> cpu;
  std::optional<std::uint64_t> ram;
  std::optional<int> gpu;
  // Stop this cluster's jobs when the process that launched them ends
  // (by any means, SIGKILL included). Off: jobs outlive their submitter,
  // as `ray job submit` jobs do.
  bool die_with_submitter = false;
  // SIGTERM to SIGKILL when a job is terminated.
  std::chrono::milliseconds kill_grace = std::chrono::seconds(5);
  // From its second launch on, keep one job supervisor started ahead of the
  // next launch: its start-up (about 2 ms here, most of a launch) is then
  // paid while this program goes on. It runs its job as a fresh one would:
  // it serves only if this process's environment, directory, ids, umask
  // and limits are as they were when it started, and it exits with this
  // program if no job came. Off: each launch starts its own.
  bool keep_spare_supervisor = true;

  LocalClusterOptions& with_jobs_dir(std::filesystem::path dir) { jobs_dir = std::move(dir); return *this; }
  LocalClusterOptions& with_cpu(double cores) { cpu = cores; return *this; }
  LocalClusterOptions& with_ram(std::uint64_t bytes) { ram = bytes; return *this; }
  LocalClusterOptions& with_gpu(int count) { gpu = count; return *this; }
  LocalClusterOptions& with_die_with_submitter(bool value = true) { die_with_submitter = value; return *this; }
  LocalClusterOptions& with_spare_supervisor(bool value = true) { keep_spare_supervisor = value; return *this; }
  // Any duration type; saturated at fray::never_duration (100 years: never), so
  // hours::max() means never rather than overflowing milliseconds.
  template <class Rep, class Period>
  LocalClusterOptions& with_kill_grace(std::chrono::duration<Rep, Period> value) {
    kill_grace = clamp_duration<std::chrono::milliseconds>(value);
    return *this;
  }

  // "local?cpu=8&ram=32g&gpu=2". Throws InvalidClusterSpec.
  static LocalClusterOptions from_spec(const ClusterSpec& spec);
};

namespace detail {
class SpareSupervisor;
// The supervisor a cluster keeps started ahead (keep_spare_supervisor).
struct SpareSupervisorSlot {
  std::mutex mutex;
  std::unique_ptr<SpareSupervisor> spare;
  std::uint64_t launches = 0;
  SpareSupervisorSlot();
  ~SpareSupervisorSlot();
};
// inotify descriptors kept for reuse (see local_cluster.cpp).
class InotifyPool {
 public:
  InotifyPool() = default;
  InotifyPool(const InotifyPool&) = delete;
  ~InotifyPool();
  int take();  // -1 when inotify is not available
  void give_back(int fd);

 private:
  std::mutex mutex_;
  std::vector<int> idle_;
};
}  // namespace detail

class LocalCluster final : public Cluster {
 public:
  explicit LocalCluster(LocalClusterOptions options = {});

  JobId launch(const JobRequest& request) override;
  JobInfo poll(const JobId& id) override;
  void terminate(const JobId& id) override;
  std::vector<JobInfo> list() override;
  std::string spec() const override;
  std::vector<LogFile> log_files(const JobId& id) override;
  // inotify on the jobs' directories: wait() wakes when a status is replaced.
  std::unique_ptr<JobChangeWatch> watch_changes(const std::vector<JobId>& ids) override;

  // Removes the directories of jobs that finished before `before`; returns
  // how many. Running and pending jobs are never touched.
  std::size_t gc(JobClock::time_point before);

  const std::filesystem::path& jobs_dir() const noexcept { return jobs_dir_; }
  double cpu_capacity() const noexcept { return cpu_; }
  std::uint64_t ram_capacity() const noexcept { return ram_; }
  int gpu_capacity() const noexcept { return gpu_; }

 private:
  // Starts job `id`'s supervisor with `input`; what it answered.
  std::string start_supervisor(const JobId& id, const std::string& input, const std::filesystem::path& log);

  LocalClusterOptions options_;
  std::filesystem::path jobs_dir_;
  std::unique_ptr<detail::InotifyPool> inotify_ = std::make_unique<detail::InotifyPool>();
  std::unique_ptr<detail::SpareSupervisorSlot> spares_ = std::make_unique<detail::SpareSupervisorSlot>();
  double cpu_ = 0;
  std::uint64_t ram_ = 0;
  int gpu_ = 0;
};

}  // namespace fray
