// The oneTBB peers of bench-contract.md: what a C++ user picks for tasks.
// Built against the library when Meson finds it (FRAY_BENCH_HAVE_TBB);
// otherwise each peer is named as skipped, with why.
#include "peers.hpp"

#include <fmt/format.h>

#if FRAY_BENCH_HAVE_TBB
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#include <oneapi/tbb/version.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#endif

namespace fray::bench {

#if FRAY_BENCH_HAVE_TBB

namespace {

using clock = std::chrono::steady_clock;

std::size_t pick(const SuiteOptions& options, std::size_t full, std::size_t quick) {
  return options.quick ? quick : full;
}

void empty() {}

}  // namespace

// run + wait from the driver, TBB's default: the waiting thread joins the
// default arena and may run the task itself, so this is often no hand-off.
void peer_tbb_task_group_roundtrip(Report& report, const SuiteOptions& options) {
  const std::size_t n = pick(options, 200'000, 20'000);
  progress(fmt::format("peer tbb_task_group_roundtrip: {} run + wait (oneTBB {})", n, TBB_VERSION_STRING));
  report.peer("tbb_task_group_roundtrip", repeated_latency([&] {
                oneapi::tbb::task_group group;
                return time_each(n / 10 / kRepetitions, n / kRepetitions, [&] {
                  group.run(empty);
                  group.wait();
                });
              }));
}

// A pure hand-off: enqueued to the default arena, which the driver never
// joins, so a worker runs it while the driver spins on the flag.
void peer_tbb_enqueue_roundtrip(Report& report, const SuiteOptions& options) {
  const std::size_t n = pick(options, 200'000, 20'000);
  progress(fmt::format("peer tbb_enqueue_roundtrip: {} enqueue + spin", n));
  report.peer("tbb_enqueue_roundtrip", repeated_latency([&] {
                oneapi::tbb::task_arena arena;
                std::atomic<bool> done{false};
                return time_each(n / 10 / kRepetitions, n / kRepetitions, [&] {
                  done.store(false, std::memory_order_relaxed);
                  arena.enqueue([&done] { done.store(true, std::memory_order_release); });
                  while (!done.load(std::memory_order_acquire)) {
                  }
                });
              }));
}

// Fans out `n` empty tasks through one task_group, then waits: the median of
// three rounds after an untimed one, as task_throughput_pool does.
void peer_tbb_throughput(Report& report, const SuiteOptions& options) {
  const std::size_t n = pick(options, 1'000'000, 200'000);
  progress(fmt::format("peer tbb_throughput: {} tasks through one task_group", n));
  auto round = [n] {
    oneapi::tbb::task_group group;
    const auto start = clock::now();
    for (std::size_t i = 0; i < n; ++i) group.run(empty);
    group.wait();
    return clock::now() - start;
  };
  round();
  std::vector<clock::duration> rounds;
  for (int i = 0; i < 3; ++i) rounds.push_back(round());
  std::sort(rounds.begin(), rounds.end());
  report.peer("tbb_throughput", throughput(n, rounds[1]));
}

// From the driver, a task that runs a child in a nested task_group and
// waits for it (nested_get_roundtrip's shape).
void peer_tbb_nested_roundtrip(Report& report, const SuiteOptions& options) {
  const std::size_t n = pick(options, 200'000, 20'000);
  progress(fmt::format("peer tbb_nested_roundtrip: {} nested run + wait", n));
  report.peer("tbb_nested_roundtrip", repeated_latency([&] {
                oneapi::tbb::task_group group;
                return time_each(n / 10 / kRepetitions, n / kRepetitions, [&] {
                  group.run([] {
                    oneapi::tbb::task_group inner;
                    inner.run(empty);
                    inner.wait();
                  });
                  group.wait();
                });
              }));
}

#else

namespace {

void skip_tbb(Report& report, std::string_view peer) {
  skip_library_peer(report, "core-peers", peer, "oneTBB", "libtbb-dev", "`tbb`");
}

}  // namespace

void peer_tbb_task_group_roundtrip(Report& report, const SuiteOptions&) { skip_tbb(report, "tbb_task_group_roundtrip"); }
void peer_tbb_enqueue_roundtrip(Report& report, const SuiteOptions&) { skip_tbb(report, "tbb_enqueue_roundtrip"); }
void peer_tbb_throughput(Report& report, const SuiteOptions&) { skip_tbb(report, "tbb_throughput"); }
void peer_tbb_nested_roundtrip(Report& report, const SuiteOptions&) { skip_tbb(report, "tbb_nested_roundtrip"); }

#endif

}  // namespace fray::bench
