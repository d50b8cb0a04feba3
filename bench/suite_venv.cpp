// The venv suite's fray metrics (bench-contract.md): opening a cached env,
// running `true` in it (from this small process, then while it holds 4 GiB),
// building an empty one, building one with a local wheel. Every build gets a
// cache without that env (it is removed before each run); the interpreter's
// probe stays cached, as it does on a machine that has used fray before.
#include "held_memory.hpp"
#include "peers.hpp"
#include "suites.hpp"

#include <fray/detail/fs_util.hpp>
#include <fray/venv.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#ifndef FRAY_BENCH_PYTHON_DIR
#error "FRAY_BENCH_PYTHON_DIR (the directory of bench/python) must be defined by the build"
#endif

namespace fray::bench {

namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;


// Opens (and so builds) the env `options` describe `runs` times after
// `warmup` untimed builds, removing it before each.
std::vector<std::int64_t> time_builds(const VenvOptions& options, std::size_t warmup, std::size_t runs,
                                      std::string_view what) {
  VenvCache cache(*options.cache_dir);
  const std::string key = IsolatedVirtualEnv::key_of(options);
  std::vector<std::int64_t> samples;
  for (std::size_t i = 0; i < warmup + runs; ++i) {
    progress(fmt::format("venv {}: {} {}/{}", what, i < warmup ? "warm-up" : "run", i < warmup ? i + 1 : i - warmup + 1,
                         i < warmup ? warmup : runs));
    cache.remove(key);
    const auto start = clock::now();
    IsolatedVirtualEnv env(options);
    const auto stop = clock::now();
    if (!env.built_now()) throw std::runtime_error(fmt::format("venv {}: the env was not rebuilt", what));
    if (i >= warmup) samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count());
  }
  return samples;
}

// `env.run({"true"})` timed until each process is reaped: what starting a
// process in an env costs the driver, with the process itself doing nothing.
std::vector<std::int64_t> time_run_true(const IsolatedVirtualEnv& env, std::size_t warmup, std::size_t n) {
  return time_each(warmup, n, [&env] {
    const ProcessResult result = env.run({"true"}).get();
    if (!result.ok()) {
      throw std::runtime_error(fmt::format("venv: `true` in the env ended with status {}", result.status()));
    }
  });
}

// venv_run_true, then process_spawn_big_driver: the same runs while this
// process holds 4 GiB, since a fork-based launcher copies the driver's page
// tables on every start and so gets slower as the driver grows.
void measure_run_true(Report& report, const IsolatedVirtualEnv& env, const SuiteOptions& options) {
  const std::size_t n = options.quick ? 50 : 200;
  progress(fmt::format("venv venv_run_true: {} runs of `true` in the env", n));
  report.metric("venv_run_true", latency_from_samples(time_run_true(env, options.quick ? 5 : 20, n)));

  progress("venv process_spawn_big_driver: touching 4 GiB to hold");
  const auto held = hold_for(report, "venv", "process_spawn_big_driver", kBigDriverBytes);
  if (!held) return;
  // Each start costs a few hundred ms from a driver this big: few samples.
  const std::size_t big_n = options.quick ? 10 : 20;
  progress(fmt::format("venv process_spawn_big_driver: {} runs of `true` in the env, holding 4 GiB", big_n));
  report.metric("process_spawn_big_driver", latency_from_samples(time_run_true(env, 2, big_n)));
}

}  // namespace

void run_venv_suite(Report& report, const SuiteOptions& options) {
  if (options.python.empty()) {
    report.skip("venv", "no Python interpreter (python3 is not on PATH; pass --python EXE)");
    return;
  }
  fray::detail::TempDirectory scratch("fray-bench-venv-");
  const VenvOptions base = VenvOptions{}.with_python(options.python).with_cache_dir(scratch.path() / "cache");

  {
    progress("venv venv_cache_hit: building the env once");
    IsolatedVirtualEnv built(base);
    const std::size_t n = options.quick ? 200 : 2'000;
    progress(fmt::format("venv venv_cache_hit: {} opens of a built env", n));
    auto samples = time_each(options.quick ? 20 : 100, n, [&base] { IsolatedVirtualEnv env(base); });
    report.metric("venv_cache_hit", latency_from_samples(std::move(samples)));
    measure_run_true(report, built, options);
  }

  report.metric("venv_build_empty",
                latency_from_samples(time_builds(base, 1, options.quick ? 3 : 7, "venv_build_empty")));

  // The same probe wheel the pip_install_one_wheel peer installs, made with
  // the standard library only, so any interpreter can.
  const fs::path wheels = scratch.path() / "wheels";
  progress("venv venv_build_one_wheel: building the fray_bench_probe wheel");
  build_probe_wheel(options.python, wheels);
  const VenvOptions one_wheel =
      VenvOptions(base).with_package("fray_bench_probe").with_no_index().with_find_links(wheels.string());
  report.metric("venv_build_one_wheel",
                latency_from_samples(time_builds(one_wheel, options.quick ? 0 : 1, options.quick ? 2 : 5,
                                                 "venv_build_one_wheel")));
}

}  // namespace fray::bench
