// The python suite's fray metrics (bench-contract.md): a call of a Python
// function in a warm worker of an isolated env, pipelined calls over a pool
// of two warm workers, a mix of calls that crash, time out and are
// cancelled, and a worker's cold start (from this small process, then while
// it holds 4 GiB). The env holds no packages and uses the interpreter of the
// Python peers (python_startup, py_mp_pool_*); the function is the peers'
// own: `def noop(): return None`, in a module of the workers' working
// directory.
#include "held_memory.hpp"
#include "peers.hpp"
#include "suites.hpp"

#include <fray/detail/fs_util.hpp>
#include <fray/python.hpp>
#include <fray/venv.hpp>
#include <fmt/format.h>

#include <chrono>
#include <deque>
#include <random>
#include <fstream>
#include <vector>

namespace fray::bench {

namespace {

using clock = std::chrono::steady_clock;

WorkerPoolOptions bench_pool(const std::filesystem::path& dir, std::size_t workers) {
  return WorkerPoolOptions{}.with_name("bench").with_max_workers(workers).with_cwd(dir);
}

// The mix of test/pyworker_attribution_tests.cpp's stress test, from a fixed
// seed: 69% instant calls, 15% sleeping 1-20 ms, 3% crashing their worker,
// 3% past a 50 ms timeout, 10% cancelled as soon as they are made; at most
// 16 in flight. Every call ends (its outcome is the tests' business).
void run_mixed_calls(WorkerPool& pool, std::size_t n) {
  std::mt19937 random(20240612);
  std::deque<Future<boost::json::value>> in_flight;
  auto settle = [](Future<boost::json::value>& call) {
    try {
      call.get();
    } catch (const std::exception&) {
    }
  };
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned roll = random() % 100;
    Future<boost::json::value> call;
    if (roll < 69) {
      call = pool.call("fray_bench_calls:noop");
    } else if (roll < 84) {
      call = pool.call("fray_bench_calls:sleep_ms", int(1 + random() % 20));
    } else if (roll < 87) {
      call = pool.call("fray_bench_calls:crash");
    } else if (roll < 90) {
      call = pool.call(PythonCallOptions{}.with_timeout(std::chrono::milliseconds(50)), "fray_bench_calls:sleep_ms", 2000);
    } else {
      call = pool.call("fray_bench_calls:sleep_ms", int(random() % 5));
      call.cancel();
    }
    in_flight.push_back(std::move(call));
    if (in_flight.size() >= 16) {
      settle(in_flight.front());
      in_flight.pop_front();
    }
  }
  for (auto& call : in_flight) settle(call);
}

// Starts `n` one-worker pools after 2 untimed ones, each until its first
// result: a worker's cold start in an env that is already built.
Measurement time_cold_starts(const IsolatedVirtualEnv& env, const std::filesystem::path& dir, std::size_t n) {
  std::vector<std::int64_t> samples;
  for (std::size_t i = 0; i < n + 2; ++i) {
    const auto start = clock::now();
    WorkerPool pool(env, bench_pool(dir, 1));
    pool.call<void>("fray_bench_calls:noop").get();
    const auto stop = clock::now();
    if (i >= 2) samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count());
  }
  return latency_from_samples(std::move(samples));
}

}  // namespace

void run_python_suite(Report& report, const SuiteOptions& options) {
  if (options.python.empty()) {
    report.skip("python", "no Python interpreter (python3 is not on PATH; pass --python EXE)");
    return;
  }
  fray::detail::TempDirectory scratch("fray-bench-python-");
  std::ofstream(scratch / "fray_bench_calls.py")
      << "import os, time\n\n"
         "def noop():\n    return None\n\n"
         "def sleep_ms(ms):\n    time.sleep(ms / 1000)\n\n"
         "def crash():\n    os._exit(3)\n";
  progress("python: building an empty env");
  IsolatedVirtualEnv env(VenvOptions{}.with_python(options.python).with_cache_dir(scratch / "cache"));

  {
    // A call's latency depends on the worker's and the caller's threads
    // waking: kRepetitions rounds, each with a worker of its own.
    const std::size_t n = (options.quick ? 2'000 : 10'000) / kRepetitions;
    progress(fmt::format("python py_call_roundtrip: {} x {} calls, one at a time", kRepetitions, n));
    report.metric("py_call_roundtrip", repeated_latency([&] {
                    WorkerPool pool(env, bench_pool(scratch.path(), 1).with_min_workers(1));
                    return time_each(options.quick ? 100 : 500, n,
                                     [&pool] { pool.call<void>("fray_bench_calls:noop").get(); });
                  }));
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
    const std::size_t n = options.quick ? 300 : 2'000;
    progress(fmt::format(
        "python py_call_mixed: {} calls over 2 workers, instant, slow, crashing, timing out and cancelled", n));
    WorkerPool pool(env, bench_pool(scratch.path(), 2).with_min_workers(2));
    pool.call<void>("fray_bench_calls:noop").get();
    const auto start = clock::now();
    run_mixed_calls(pool, n);
    report.metric("py_call_mixed", throughput(n, clock::now() - start));
  }

  {
    const std::size_t n = options.quick ? 10 : 30;
    progress(fmt::format("python py_worker_cold_start: {} pools started, each until its first result", n));
    report.metric("py_worker_cold_start", time_cold_starts(env, scratch.path(), n));
    // Its peer: the interpreter the worker runs, the env's own.
    peer_py_env_python_startup(report, options, (env.path() / "bin" / "python").string());
  }

  {
    // A worker is a child process, so a fork-based launcher copies the
    // driver's page tables on each start: the same starts from a big driver.
    progress("python py_worker_cold_start_big: touching 4 GiB to hold");
    const auto held = hold_for(report, "python", "py_worker_cold_start_big", kBigDriverBytes);
    if (!held) return;
    const std::size_t n = options.quick ? 10 : 20;
    progress(fmt::format("python py_worker_cold_start_big: {} pools started, each until its first result, holding 4 GiB",
                         n));
    report.metric("py_worker_cold_start_big", time_cold_starts(env, scratch.path(), n));
  }
}

}  // namespace fray::bench
