// The jobs suite's fray metrics (bench-contract.md): a local job of `true`
// from launch to succeeded, 1,000 such jobs submitted at once (jobs/s, and
// what each waiting or running supervisor costs in memory), and on a Slurm
// that answers (scripts/slurm-local's, or SLURM_CONF's) a Slurm job of
// `true` beside `sbatch --wait --wrap true`, the floor any Slurm client has.
#include "suites.hpp"

#include <fray/detail/fs_util.hpp>
#include <fray/detail/process_runner.hpp>
#include <fray/jobs.hpp>
#include <fmt/format.h>

#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace fray::bench {

namespace {

using clock = std::chrono::steady_clock;

std::size_t pick(const SuiteOptions& options, std::size_t full, std::size_t quick) { return options.quick ? quick : full; }

JobRequest true_job() {
  JobRequest request;
  request.name = "bench-true";
  request.entrypoint = Entrypoint::binary({"true"});
  return request;
}

void require_succeeded(const JobInfo& info) {
  if (info.status != JobStatus::succeeded) {
    throw std::runtime_error(fmt::format("jobs: job {} ended {}: {}", info.id, to_string(info.status), info.error));
  }
}

// The proportional set size of a process (its share of shared pages), or 0.
std::uint64_t pss_bytes(int pid) {
  std::ifstream rollup(fmt::format("/proc/{}/smaps_rollup", pid));
  std::string key;
  std::uint64_t kib = 0;
  while (rollup >> key) {
    if (key == "Pss:") {
      rollup >> kib;
      return kib * 1024;
    }
    rollup.ignore(1 << 20, '\n');
  }
  return 0;
}

// The mean PSS of the supervisors still alive among `ids`, and how many.
std::pair<double, std::size_t> supervisor_pss(const std::filesystem::path& jobs_dir, const std::vector<JobId>& ids) {
  std::uint64_t total = 0;
  std::size_t alive = 0;
  for (const JobId& id : ids) {
    const auto text = detail::read_file(jobs_dir / id / "supervisor.pid");
    if (!text) continue;
    const std::uint64_t pss = pss_bytes(std::atoi(text->c_str()));
    if (pss == 0) continue;
    total += pss;
    ++alive;
  }
  return {alive == 0 ? 0.0 : double(total) / double(alive), alive};
}

void job_local_roundtrip(Report& report, const SuiteOptions& options, LocalCluster& cluster) {
  const std::size_t n = pick(options, 100, 20);
  progress(fmt::format("jobs job_local_roundtrip: {} jobs of `true`, each launched and waited for", n));
  auto samples = time_each(pick(options, 5, 2), n, [&] { require_succeeded(cluster.wait(cluster.launch(true_job()))); });
  report.metric("job_local_roundtrip", latency_from_samples(std::move(samples)));
}

void job_local_throughput(Report& report, const SuiteOptions& options, LocalCluster& cluster) {
  const std::size_t n = pick(options, 1000, 100);
  progress(fmt::format("jobs job_local_throughput: {} jobs of `true` submitted at once", n));
  std::vector<JobId> ids;
  ids.reserve(n);
  double pss_sum = 0;
  std::size_t pss_samples = 0;
  const auto start = clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    ids.push_back(cluster.launch(true_job()));
    if ((i + 1) % 100 == 0) {
      // What a live job's supervisor costs the machine: the one just
      // launched, which has recorded and queued its job. (Sampling
      // every job launched so far found none alive once a supervisor of
      // `true` ended before the next 100 launches, and read 1,000 pid files.)
      const auto [mean, alive] = supervisor_pss(cluster.jobs_dir(), {ids.back()});
      if (alive > 0) {
        pss_sum += mean;
        ++pss_samples;
      }
      progress(fmt::format("jobs job_local_throughput: {} launched, the last one's supervisor {}", i + 1, alive ? "sampled" : "already gone"));
    }
  }
  for (const JobInfo& info : cluster.wait(ids)) require_succeeded(info);
  const auto stop = clock::now();
  Measurement m = throughput(n, stop - start);
  if (pss_samples > 0) m.bytes = pss_sum / double(pss_samples);
  report.metric("job_local_throughput", m);
}

// Runs a command to its end with this process's environment; its stdout.
ProcessResult run_command(std::vector<std::string> argv) {
  const char* path_var = std::getenv("PATH");
  const std::filesystem::path exe = detail::find_on_path(argv.front(), path_var == nullptr ? "" : path_var);
  if (exe.empty()) throw std::runtime_error(fmt::format("{} is not on PATH", argv.front()));
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) env.emplace_back(*entry);
  RunOptions run;
  run.timeout = std::chrono::minutes(2);
  return detail::start_process(detail::ProcessSpec{exe, std::vector<std::string>(argv.begin() + 1, argv.end()), std::move(env)}, run)
      .get();
}

// A Slurm that answers: SLURM_CONF as set, else the private one of
// scripts/slurm-local when it runs. The reason when there is none.
std::optional<std::string> find_slurm() {
  if (std::getenv("SLURM_CONF") == nullptr) {
    const auto script = std::filesystem::path(FRAY_BENCH_PYTHON_DIR) / ".." / ".." / "scripts" / "slurm-local";
    try {
      const ProcessResult env = run_command({script.string(), "env"});
      const std::string prefix = "export SLURM_CONF=";
      if (env.ok() && env.out.starts_with(prefix)) {
        std::string conf = env.out.substr(prefix.size());
        while (!conf.empty() && (conf.back() == '\n' || conf.back() == '\'' || conf.back() == '"')) conf.pop_back();
        while (!conf.empty() && (conf.front() == '\'' || conf.front() == '"')) conf.erase(0, 1);
        ::setenv("SLURM_CONF", conf.c_str(), 1);
      }
    } catch (const std::exception&) {
    }
  }
  try {
    if (!run_command({"sinfo", "-h"}).ok()) return "sinfo does not answer (no Slurm controller)";
  } catch (const std::exception& e) {
    return e.what();
  }
  return std::nullopt;
}

void slurm_roundtrips(Report& report, const SuiteOptions& options) {
  if (auto missing = find_slurm()) {
    report.skip("jobs", fmt::format("job_slurm_roundtrip and slurm_sbatch_wait: {}; start a private one with "
                                    "`eval \"$(scripts/slurm-local start)\"`", *missing));
    return;
  }
  const std::size_t n = pick(options, 5, 2);
  progress(fmt::format("peer slurm_sbatch_wait: {} runs of `sbatch --wait --wrap true`", n));
  auto sbatch = time_each(1, n, [] {
    const ProcessResult result = run_command({"sbatch", "--wait", "--quiet", "--output=/dev/null", "--wrap", "true"});
    if (!result.ok()) throw std::runtime_error("sbatch --wait --wrap true failed: " + result.err);
  });
  report.peer("slurm_sbatch_wait", latency_from_samples(std::move(sbatch)));
  detail::TempDirectory dir("fray-bench-slurm-");
  SlurmCluster cluster(SlurmClusterOptions{}.with_jobs_dir(dir / "jobs"));
  progress(fmt::format("jobs job_slurm_roundtrip: {} Slurm jobs of `true`, each launched and waited for", n));
  auto samples = time_each(1, n, [&] { require_succeeded(cluster.wait(cluster.launch(true_job()))); });
  report.metric("job_slurm_roundtrip", latency_from_samples(std::move(samples)));
}

}  // namespace

void run_jobs_suite(Report& report, const SuiteOptions& options) {
  {
    detail::TempDirectory dir("fray-bench-jobs-");
    LocalCluster cluster(LocalClusterOptions{}.with_jobs_dir(dir / "jobs"));
    job_local_roundtrip(report, options, cluster);
    job_local_throughput(report, options, cluster);
  }
  slurm_roundtrips(report, options);
}

}  // namespace fray::bench
