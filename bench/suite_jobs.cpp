// The jobs suite's fray metrics (bench-contract.md): a local job of `true`
// from launch to succeeded, and 1,000 such jobs submitted at once (jobs/s,
// and what each waiting or running supervisor costs in memory).
#include "suites.hpp"

#include <fray/detail/fs_util.hpp>
#include <fray/jobs.hpp>
#include <fmt/format.h>

#include <chrono>
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
      // Sampled while they wait: what a queued job costs the machine.
      const auto [mean, alive] = supervisor_pss(cluster.jobs_dir(), ids);
      if (alive > 0) {
        pss_sum += mean;
        ++pss_samples;
      }
      progress(fmt::format("jobs job_local_throughput: {} launched, {} supervisors alive", i + 1, alive));
    }
  }
  for (const JobInfo& info : cluster.wait(ids)) require_succeeded(info);
  const auto stop = clock::now();
  Measurement m = throughput(n, stop - start);
  if (pss_samples > 0) m.bytes = pss_sum / double(pss_samples);
  report.metric("job_local_throughput", m);
}

}  // namespace

void run_jobs_suite(Report& report, const SuiteOptions& options) {
  detail::TempDirectory dir("fray-bench-jobs-");
  LocalCluster cluster(LocalClusterOptions{}.with_jobs_dir(dir / "jobs"));
  job_local_roundtrip(report, options, cluster);
  job_local_throughput(report, options, cluster);
}

}  // namespace fray::bench
