// The actors suite: one call on a C++ actor and its result, with caller and
// actor on one thread (the sync context) and across threads (the pool);
// a million pipelined calls on one actor; the heap an idle actor costs.
#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <fray/fray.hpp>
#include <stdexcept>
#include <vector>

#include "suites.hpp"

namespace fray::bench {

namespace {

using Clock = std::chrono::steady_clock;

RuntimeOptions context_of(ContextKind kind, std::size_t threads = 2) {
  return RuntimeOptions{}.with_context(kind).with_threads(threads);
}

struct Adder {
  int add(int n) { return total += n; }
  int total = 0;
};

// One round of `n` timed calls (after n / 10 untimed) on a fresh runtime.
std::vector<std::int64_t> call_samples(ContextKind kind, std::size_t n) {
  Runtime runtime(context_of(kind));
  auto actor = runtime.context().create_actor<Adder>();
  actor.ready().get();
  int last = 0;
  auto samples = time_each(n / 10, n, [&] { last = actor.call(&Adder::add, 1).get(); });
  if (last != static_cast<int>(n + n / 10)) throw std::logic_error("actor calls were lost");
  return samples;
}

// Across threads the figure depends on a thread waking: kRepetitions
// rounds, each on its own runtime, so that the spread shows.
void call_roundtrip(Report& report, const SuiteOptions& options, ContextKind kind, const char* name) {
  progress(name);
  const std::size_t n = options.quick ? 20'000 : 200'000;
  if (kind == ContextKind::sync) return report.metric(name, latency_from_samples(call_samples(kind, n)));
  report.metric(name, repeated_latency([&] { return call_samples(kind, n / kRepetitions); }));
}

// Pipelined: every call is made before any result is awaited.
Measurement one_throughput_run(JobContext& ctx, std::size_t n) {
  auto actor = ctx.create_actor<Adder>();
  for (int warm = 0; warm < 10'000; ++warm) actor.call(&Adder::add, 0);
  actor.call(&Adder::add, 0).get();
  std::vector<Future<int>> futures;
  futures.reserve(n);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < n; ++i) futures.push_back(actor.call(&Adder::add, 1));
  long long sum = 0;
  for (auto& future : futures) sum += future.get();
  const auto elapsed = Clock::now() - start;
  const auto expected = static_cast<long long>(n) * static_cast<long long>(n + 1) / 2;
  if (sum != expected) throw std::logic_error("actor calls were lost or reordered");
  return throughput(n, elapsed);
}

void call_throughput(Report& report, const SuiteOptions& options, ContextKind kind, const char* name) {
  progress(name);
  Runtime runtime(context_of(kind));
  const std::size_t n = options.quick ? 200'000 : 1'000'000;
  const int runs = options.quick ? 1 : 5;
  std::vector<Measurement> measured;
  for (int run = 0; run < runs; ++run) measured.push_back(one_throughput_run(runtime.context(), n));
  // The median run: one noisy neighbour should not decide the figure.
  std::sort(measured.begin(), measured.end(),
            [](const Measurement& a, const Measurement& b) { return *a.ops_per_s < *b.ops_per_s; });
  report.metric(name, measured[measured.size() / 2]);
}

// Creating `n` actors and constructing them all: the time per actor, and
// heap bytes per idle actor (its object is 4 bytes). The sync context keeps
// every allocation on this thread's arena, so mallinfo2 sees it.
Measurement create_actors(std::size_t n) {
  Runtime runtime(context_of(ContextKind::sync));
  JobContext& ctx = runtime.context();
  std::vector<ActorHandle<Adder>> actors;
  actors.reserve(n);  // the caller's own vector is not the actors' cost
  const std::optional<std::size_t> before = heap_bytes_in_use();
  const auto start = Clock::now();
  for (std::size_t i = 0; i < n; ++i) actors.push_back(ctx.create_actor<Adder>());
  actors.back().ready().get();  // runs every constructor before it, in order
  const auto elapsed = Clock::now() - start;
  const std::optional<std::size_t> after = heap_bytes_in_use();
  for (auto& actor : actors) {
    if (!actor.ready().ready()) throw std::logic_error("an actor was not constructed");
  }
  Measurement m = throughput(n, elapsed);
  if (before && after) m.bytes = static_cast<double>(*after - *before) / static_cast<double>(n);
  return m;
}

void memory_idle(Report& report, const SuiteOptions& options) {
  progress("actor_memory_idle");
  if (!heap_bytes_in_use()) return report.skip("actors", fmt::format("actor_memory_idle: {}", kHeapInvisible));
  Measurement m = create_actors(options.quick ? 20'000 : 100'000);
  m.ops_per_s.reset();  // this metric is the memory; the creation rate is actor_create_*
  report.metric("actor_memory_idle", m);
}

void count_scaling(Report& report, const SuiteOptions& options) {
  if (options.quick) return;
  progress("actor_create at 10^2 .. 10^5 actors");
  for (std::size_t n : {100u, 1'000u, 10'000u, 100'000u}) report.metric(fmt::format("actor_create_{}", n), create_actors(n));
}

}  // namespace

void run_actors_suite(Report& report, const SuiteOptions& options) {
  call_roundtrip(report, options, ContextKind::sync, "actor_call_roundtrip");
  call_roundtrip(report, options, ContextKind::threads, "actor_call_roundtrip_pool");
  call_throughput(report, options, ContextKind::threads, "actor_call_throughput");
  call_throughput(report, options, ContextKind::sync, "actor_call_throughput_sync");
  memory_idle(report, options);
  count_scaling(report, options);
}

}  // namespace fray::bench
