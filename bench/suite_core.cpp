// The core suite: what it costs to schedule a task and get its result, on
// the inline (sync) context and on the thread pool, and how wait scales.
#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <fray/fray.hpp>
#include <optional>
#include <stdexcept>
#include <vector>

#include "suites.hpp"

namespace fray::bench {

namespace {

using Clock = std::chrono::steady_clock;

RuntimeOptions context_of(ContextKind kind, std::size_t threads = 2) {
  return RuntimeOptions{}.with_context(kind).with_threads(threads);
}

int empty_task() { return 1; }

// One round of `n` timed run + get (after n / 10 untimed) on a fresh runtime.
std::vector<std::int64_t> roundtrip_samples(ContextKind kind, std::size_t n) {
  Runtime runtime(context_of(kind));
  JobContext& ctx = runtime.context();
  int sink = 0;
  auto samples = time_each(n / 10, n, [&] { sink += ctx.run(empty_task).get(); });
  if (sink == 0) throw std::logic_error("tasks did not run");
  return samples;
}

// On the pool the figure depends on a thread waking: kRepetitions rounds,
// each on its own runtime, so that the spread shows.
void roundtrip(Report& report, const SuiteOptions& options, ContextKind kind, const char* name) {
  progress(name);
  const std::size_t n = options.quick ? 20'000 : 200'000;
  if (kind == ContextKind::sync) return report.metric(name, latency_from_samples(roundtrip_samples(kind, n)));
  report.metric(name, repeated_latency([&] { return roundtrip_samples(kind, n / kRepetitions); }));
}

// Fans out `n` empty tasks, then gets every result; the elapsed time.
std::chrono::nanoseconds fan_out(JobContext& ctx, std::size_t n) {
  std::vector<Future<int>> futures;
  futures.reserve(n);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < n; ++i) futures.push_back(ctx.run(empty_task));
  std::size_t done = 0;
  for (auto& future : futures) done += static_cast<std::size_t>(future.get());
  const auto elapsed = Clock::now() - start;
  if (done != n) throw std::logic_error("tasks were lost");
  return elapsed;
}

// The median of three timed rounds after an untimed one of the same size
// (the first round also pays the page faults of fresh memory).
void throughput_pool(Report& report, const SuiteOptions& options) {
  progress("task_throughput_pool");
  Runtime runtime(context_of(ContextKind::threads));
  const std::size_t n = options.quick ? 200'000 : 1'000'000;
  fan_out(runtime.context(), n);
  std::vector<std::chrono::nanoseconds> rounds;
  for (int round = 0; round < 3; ++round) rounds.push_back(fan_out(runtime.context(), n));
  std::sort(rounds.begin(), rounds.end());
  Measurement m = throughput(n, rounds[1]);
  m.n = n;
  report.metric("task_throughput_pool", m);
}

// Heap bytes per queued task with `n` queued: the sync context runs nothing
// until asked, so the submissions stay queued.
Measurement memory_with_queued(std::size_t n) {
  Runtime runtime(context_of(ContextKind::sync));
  JobContext& ctx = runtime.context();
  std::vector<Future<int>> futures;
  futures.reserve(n);  // the caller's own vector is not the task's cost
  const std::size_t before = heap_bytes_in_use().value_or(0);
  for (std::size_t i = 0; i < n; ++i) futures.push_back(ctx.run(empty_task));
  const std::size_t after = heap_bytes_in_use().value_or(0);
  Measurement m;
  m.bytes = static_cast<double>(after - before) / static_cast<double>(n);
  m.n = n;
  for (auto& future : futures) future.cancel();
  return m;
}

void memory_queued(Report& report, const SuiteOptions& options) {
  progress("task_memory_queued");
  if (!heap_bytes_in_use()) return report.skip("core", fmt::format("task_memory_queued: {}", kHeapInvisible));
  report.metric("task_memory_queued", memory_with_queued(options.quick ? 200'000 : 1'000'000));
}

void memory_scaling(Report& report, const SuiteOptions& options) {
  if (options.quick || !heap_bytes_in_use()) return;
  progress("task_memory_queued at 10^3 .. 10^6");
  for (std::size_t n : {1'000u, 10'000u, 100'000u, 1'000'000u}) {
    report.metric(fmt::format("task_memory_queued_{}", n), memory_with_queued(n));
  }
}

// One wait over `count` finished futures, timed as a whole call.
Measurement wait_over(JobContext& ctx, std::size_t count, std::size_t repeats) {
  std::vector<Future<int>> futures;
  futures.reserve(count);
  for (std::size_t i = 0; i < count; ++i) futures.push_back(ctx.run(empty_task));
  for (auto& future : futures) future.get();
  std::vector<std::int64_t> samples;
  for (std::size_t r = 0; r < repeats + 2; ++r) {
    const auto start = Clock::now();
    auto result = ctx.wait(futures, count);
    const auto stop = Clock::now();
    if (result.ready.size() != count) throw std::logic_error("wait lost futures");
    futures = std::move(result.ready);
    if (r >= 2) samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count());
  }
  return latency_from_samples(std::move(samples));
}

void wait_scaling(Report& report, const SuiteOptions& options) {
  progress("wait_10k (and 100 .. 100k)");
  Runtime runtime(context_of(ContextKind::threads));
  const std::size_t repeats = options.quick ? 5 : 30;
  report.metric("wait_10k", wait_over(runtime.context(), 10'000, repeats));
  for (std::size_t count : {100u, 1'000u, 100'000u}) {
    report.metric(fmt::format("wait_{}", count < 1000 ? std::to_string(count) : std::to_string(count / 1000) + "k"),
                  wait_over(runtime.context(), count, repeats));
  }
}

void throughput_scaling(Report& report, const SuiteOptions& options) {
  if (options.quick) return;
  progress("task_throughput_pool at 10^3 .. 10^6");
  Runtime runtime(context_of(ContextKind::threads));
  for (std::size_t n : {1'000u, 10'000u, 100'000u, 1'000'000u}) {
    fan_out(runtime.context(), n);
    report.metric(fmt::format("task_throughput_pool_{}", n), throughput(n, fan_out(runtime.context(), n)));
  }
}

// From the driver, a task that runs a child and get()s it: the blocking get
// inside a task, which runs the queued child on its own thread. Bytes: heap
// left per round trip after all of them (what the engine fails to free).
void nested_get(Report& report, const SuiteOptions& options) {
  progress("nested_get_roundtrip");
  const std::size_t n = (options.quick ? 20'000 : 200'000) / kRepetitions;
  std::optional<double> bytes;
  Measurement m = repeated_latency([&] {
    Runtime runtime(context_of(ContextKind::threads));
    JobContext& ctx = runtime.context();
    auto parent = [] { return fray::run(empty_task).get() + 1; };
    int sink = 0;
    const std::size_t before = heap_bytes_in_use().value_or(0);
    auto samples = time_each(n / 10, n, [&] { sink += ctx.run(parent).get(); });
    // Not counting the samples themselves, still held here.
    const std::size_t after = heap_bytes_in_use().value_or(0) - samples.capacity() * sizeof(samples[0]);
    if (sink != 2 * static_cast<int>(n + n / 10)) throw std::logic_error("nested tasks did not run");
    if (heap_bytes_in_use()) bytes = static_cast<double>(after > before ? after - before : 0) / static_cast<double>(n);
    return samples;
  });
  m.bytes = bytes;  // the last round's
  report.metric("nested_get_roundtrip", m);
}

// 10,000 tasks, each taking the previous one's future: the whole chain's
// time, and the heap still in use once it is done with only the last future
// held (a finished task keeps only its result, not its arguments).
void chain_10k(Report& report, const SuiteOptions& options) {
  progress("chain_10k");
  Runtime runtime(context_of(ContextKind::threads));
  JobContext& ctx = runtime.context();
  constexpr int kLength = 10'000;
  const int rounds = options.quick ? 5 : 30;
  std::vector<std::int64_t> samples;
  std::optional<double> bytes;
  for (int round = 0; round < rounds + 1; ++round) {
    const std::size_t before = heap_bytes_in_use().value_or(0);
    const auto start = Clock::now();
    Future<int> link = ctx.run(empty_task);
    for (int i = 1; i < kLength; ++i) link = ctx.run([](int previous) { return previous + 1; }, link);
    if (link.get() != kLength) throw std::logic_error("the chain lost a link");
    const auto stop = Clock::now();
    const std::size_t after = heap_bytes_in_use().value_or(0);
    if (round == 0) continue;  // warm-up
    samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count());
    if (heap_bytes_in_use()) bytes = static_cast<double>(after > before ? after - before : 0);
  }
  Measurement m = latency_from_samples(std::move(samples));
  m.bytes = bytes;
  report.metric("chain_10k", m);
}

}  // namespace

void run_core_suite(Report& report, const SuiteOptions& options) {
  roundtrip(report, options, ContextKind::sync, "task_roundtrip_sync");
  roundtrip(report, options, ContextKind::threads, "task_roundtrip_pool");
  throughput_pool(report, options);
  memory_queued(report, options);
  nested_get(report, options);
  chain_10k(report, options);
  wait_scaling(report, options);
  throughput_scaling(report, options);
  memory_scaling(report, options);
}

}  // namespace fray::bench
