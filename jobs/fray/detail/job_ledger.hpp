// The local cluster's admission ledger: <jobs dir>/ledger.json, read and
// written under the flock of <jobs dir>/ledger.lock by every supervisor on
// the machine. Each entry is a job waiting for its share of the machine or
// holding it. Jobs are admitted strictly in submission order: the first
// waiting job that does not fit holds back the ones after it.
//
// A supervisor holds an exclusive flock on <jobs dir>/<id>/supervisor.lock
// for as long as it lives; the kernel drops it when the supervisor dies,
// however it dies. An entry whose lock is free is a dead supervisor's: it
// is removed (nothing stays held) and its job reported failed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fray/job_info.hpp"

namespace fray::detail {

// What a job takes from the machine (all its replicas), and the capacity
// its supervisor admits it against.
struct JobShare {
  double cpu = 0;
  std::uint64_t ram = 0;
  int gpu = 0;
};

struct LedgerEntry {
  JobId id;
  std::uint64_t seq = 0;  // submission order
  int pid = 0;            // the supervisor
  std::uint64_t start_time = 0;  // /proc/<pid>/stat field 22, so a reused pid is never signalled
  bool admitted = false;
  JobShare need, capacity;
};

class JobLedger {
 public:
  explicit JobLedger(std::filesystem::path jobs_dir) : jobs_dir_(std::move(jobs_dir)) {}

  // Adds an entry for the calling supervisor and admits what fits, in one
  // turn of the lock; true when this entry was admitted at once.
  bool enqueue(const JobId& id, const JobShare& need, const JobShare& capacity);
  // Reclaims dead entries, admits what fits in order (signalling the
  // supervisors admitted with SIGUSR1), and says whether `id` is admitted.
  bool try_admit(const JobId& id);
  // Removes `id`'s entry and admits the jobs that now fit.
  void release(const JobId& id);
  std::vector<LedgerEntry> entries() const;

  const std::filesystem::path& jobs_dir() const noexcept { return jobs_dir_; }

 private:
  std::filesystem::path jobs_dir_;
};

// The path of the lock a job's supervisor holds for its whole life.
std::filesystem::path supervisor_lock_file(const std::filesystem::path& jobs_dir, const JobId& id);
// True when a supervisor holds it.
bool supervisor_alive(const std::filesystem::path& jobs_dir, const JobId& id);
// When `id`'s status is not finished and its supervisor is gone, records the
// job as failed (or stopped, when a stop was asked) with the reason, and
// returns the status written. Idempotent.
std::optional<JobInfo> settle_dead_supervisor(const std::filesystem::path& jobs_dir, const JobId& id);
// Undoes what a supervisor of `id` that died before it said the job had
// started may have left (its lock, pid file, status and ledger entry), so
// that a fresh supervisor can start the job as if it were the first.
void forget_unstarted_supervisor(const std::filesystem::path& jobs_dir, const JobId& id);
// /proc/<pid>/stat's start time, or 0 when there is no such process.
std::uint64_t process_start_time(int pid) noexcept;
// The file that asks a job to stop (written by terminate, read by its supervisor).
std::filesystem::path stop_request_file(const std::filesystem::path& jobs_dir, const JobId& id);

}  // namespace fray::detail
