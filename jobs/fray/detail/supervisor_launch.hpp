// Starting fray-job-supervisor, the detached process that runs one local
// job: at once for a launch, or ahead of the next launch (a spare).
//
// A supervisor's exec, dynamic loading and start-up cost about 2 ms of CPU
// here, most of a local launch of `true`. A spare has paid that before the
// launch that needs it: it waits for its job on a socket. It serves only
// if this process is still as it was when the spare started (environment,
// working directory, and what InheritedSettings compares: ids, groups,
// umask, limits), because a supervisor runs its job with what it
// inherited; otherwise it is sent away and a fresh one started (not
// compared, as for child guards: CPU affinity, nice value, cgroup,
// capabilities, seccomp). When this process ends first, by any means, the
// spare sees end of file and exits without a trace. Its first process
// (which forks so that the supervisor is nobody's child here) is reaped
// when it is handed a job or sent away.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fray/detail/child_launch.hpp>

#include "fray/detail/unique_fd.hpp"

namespace fray::detail {

// Starts a supervisor now, in a session of its own, with its output
// appended to `log`, and gives it its job's `input`. It forks once and its
// first process exits, so the supervisor is nobody's child here and
// outlives this process. Returns what it answered ("ok\n" once the job is
// recorded; nothing when it failed first, and its log says why). Throws
// JobError when it cannot be started.
std::string run_supervisor(const std::filesystem::path& log, std::string_view input);

class SpareSupervisor {
 public:
  // Starts one for the cluster at `jobs_dir` (named on its command line, so
  // `ps` says whose spare it is); its start-up runs while this process goes
  // on. nullptr when it cannot be started: the next launch starts its
  // supervisor as usual.
  static std::unique_ptr<SpareSupervisor> start(const std::filesystem::path& jobs_dir);
  SpareSupervisor(const SpareSupervisor&) = delete;
  // Sends it away unused (it exits at end of file) and reaps its first process.
  ~SpareSupervisor();

  // Gives it a job's input (with "supervisor_log", where its output goes
  // from then on). Returns what it answered on its ready pipe ("ok\n" once
  // the job is recorded), or nullopt when it cannot take the job: it is
  // gone, this process has changed since it started, or this process is a
  // fork of the one that started it. Then start one as usual: nothing of
  // the job has reached it. Any other answer ("" when it died after the
  // input was sent: killed by someone, say) means it did not start the job.
  std::optional<std::string> hand(std::string_view input);

 private:
  SpareSupervisor() = default;
  bool still_fits() const;

  pid_t owner_ = -1;  // the process that started it: a fork of it must not hand it a job
  pid_t first_ = -1;  // its first process, which exits once it has forked
  UniqueFd input_, ready_;
  InheritedSettings settings_;
  std::vector<std::string> environment_;
  std::string cwd_;
};

// What the supervisor's command line says it is to do.
inline constexpr std::string_view kSupervisorSpareMode = "spare";

}  // namespace fray::detail
