// The python suite's fray metrics (bench-contract.md): a call of a Python
// function in a warm worker of an isolated env, pipelined calls over a pool
// of two warm workers, and a worker's cold start. The env holds no packages
// and uses the interpreter of the Python peers (python_startup,
// py_mp_pool_*); the function is the peers' own: `def noop(): return None`,
// in a module of the workers' working directory.
#include "suites.hpp"

#include <fray/detail/fs_util.hpp>
#include <fray/python.hpp>
#include <fray/venv.hpp>
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <vector>

namespace fray::bench {

namespace {

using clock = std::chrono::steady_clock;

WorkerPoolOptions bench_pool(const std::filesystem::path& dir, std::size_t workers) {
  return WorkerPoolOptions{}.with_name("bench").with_max_workers(workers).with_cwd(dir);
}

}  // namespace

void run_python_suite(Report& report, const SuiteOptions& options) {
  if (options.python.empty()) {
    report.skip("python", "no Python interpreter (python3 is not on PATH; pass --python EXE)");
    return;
  }
  fray::detail::TempDirectory scratch("fray-bench-python-");
  std::ofstream(scratch / "fray_bench_calls.py") << "def noop():\n    return None\n";
  progress("python: building an empty env");
  IsolatedVirtualEnv env(VenvOptions{}.with_python(options.python).with_cache_dir(scratch / "cache"));

  {
    WorkerPool pool(env, bench_pool(scratch.path(), 1).with_min_workers(1));
    const std::size_t n = options.quick ? 2'000 : 10'000;
    progress(fmt::format("python py_call_roundtrip: {} calls, one at a time", n));
    auto samples = time_each(options.quick ? 100 : 500, n, [&pool] { pool.call<void>("fray_bench_calls:noop").get(); });
    report.metric("py_call_roundtrip", latency_from_samples(std::move(samples)));
  }

  {
    WorkerPool pool(env, bench_pool(scratch.path(), 2).with_min_workers(2));
    const std::size_t warmup = options.quick ? 1'000 : 5'000, n = options.quick ? 10'000 : 50'000;
    progress(fmt::format("python py_call_throughput: {} pipelined calls over 2 workers", n));
    auto burst = [&pool](std::size_t count) {
      std::vector<Future<void>> calls;
      calls.reserve(count);
      for (std::size_t i = 0; i < count; ++i) calls.push_back(pool.call<void>("fray_bench_calls:noop"));
      for (auto& call : calls) call.get();
    };
    burst(warmup);
    const auto start = clock::now();
    burst(n);
    report.metric("py_call_throughput", throughput(n, clock::now() - start));
  }

  {
    const std::size_t n = options.quick ? 10 : 30;
    progress(fmt::format("python py_worker_cold_start: {} pools started, each until its first result", n));
    std::vector<std::int64_t> samples;
    for (std::size_t i = 0; i < n + 2; ++i) {
      const auto start = clock::now();
      WorkerPool pool(env, bench_pool(scratch.path(), 1));
      pool.call<void>("fray_bench_calls:noop").get();
      const auto stop = clock::now();
      if (i >= 2) samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count());
    }
    report.metric("py_worker_cold_start", latency_from_samples(std::move(samples)));
  }
}

}  // namespace fray::bench
