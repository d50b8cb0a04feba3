// The demo driver: fans tasks out on the thread pool, awaits them from a
// coroutine and from plain code, and says what it did and how long it took.
#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <fray/fray.hpp>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double elapsed_ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

// Real work: count the primes in [from, to).
int count_primes(int from, int to) {
  int count = 0;
  for (int n = std::max(from, 2); n < to; ++n) {
    bool prime = true;
    for (int d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    count += prime;
  }
  return count;
}

// A coroutine that splits a range into chunks, runs them as tasks, and
// awaits their results without holding a thread.
fray::Task<int> primes_below(int limit, int chunks) {
  std::vector<fray::Future<int>> parts;
  const int step = limit / chunks;
  for (int i = 0; i < chunks; ++i) {
    parts.push_back(fray::run(count_primes, i * step, i + 1 == chunks ? limit : (i + 1) * step));
  }
  int total = 0;
  for (auto& part : parts) total += co_await part;
  co_return total;
}

// A binary tree of tasks, each awaiting its two children.
fray::Task<long> tree(int depth) {
  if (depth == 0) co_return 1;
  auto left = fray::run(tree, depth - 1);
  auto right = fray::run(tree, depth - 1);
  long l = co_await std::move(left);
  long r = co_await std::move(right);
  co_return l + r + 1;
}

fray::Generator<int> squares(int count) {
  for (int i = 0; i < count; ++i) co_yield i * i;
}

}  // namespace

int main() {
  fray::Runtime runtime;
  fray::JobContext& ctx = runtime.context();
  if (ctx.kind() == fray::ContextKind::sync) {
    fmt::print("fray demo: sync context (inline, on this thread)\n");
  } else {
    fmt::print("fray demo: thread-pool context with {} threads\n", ctx.thread_count());
  }

  auto start = Clock::now();
  constexpr int kTiny = 100'000;
  std::vector<fray::Future<int>> tiny;
  tiny.reserve(kTiny);
  for (int i = 0; i < kTiny; ++i) tiny.push_back(ctx.run([](int x) { return x % 7; }, i));
  long tiny_sum = 0;
  for (auto& f : tiny) tiny_sum += f.get();
  fmt::print("  ran {} tiny tasks and got every result (sum {}) in {:.1f} ms\n", kTiny, tiny_sum, elapsed_ms(start));

  start = Clock::now();
  const int primes = ctx.run(primes_below, 2'000'000, 64).get();
  fmt::print("  counted {} primes below 2,000,000 in 64 tasks awaited by a coroutine in {:.1f} ms\n", primes,
             elapsed_ms(start));

  start = Clock::now();
  const long nodes = ctx.run(tree, 14).get();
  fmt::print("  built a tree of {} nested tasks (each awaiting two children) in {:.1f} ms\n", nodes,
             elapsed_ms(start));

  start = Clock::now();
  auto ref = ctx.put(std::vector<double>(1'000'000, 1.5));
  auto sum = ctx.run([](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s;
  }, ref);
  auto scaled = ctx.run([](double s) { return std::sqrt(s); }, sum);  // waits for `sum`
  fmt::print("  passed a 1M-element object by reference and chained two tasks: sqrt(sum) = {:.1f} in {:.1f} ms\n",
             scaled.get(), elapsed_ms(start));

  start = Clock::now();
  auto stream = ctx.run_stream(fray::TaskOptions{}, 8, squares, 10'000);
  long long squares_sum = 0;
  while (auto item = stream.next_blocking()) squares_sum += *item;
  fmt::print("  streamed 10,000 items through an 8-item buffer (sum {}) in {:.1f} ms\n", squares_sum,
             elapsed_ms(start));

  auto failing = ctx.run([]() -> int { throw std::runtime_error("a task's own error"); });
  try {
    failing.get();
  } catch (const std::runtime_error& error) {
    fmt::print("  a failing task's exception reached get() with its type: \"{}\"\n", error.what());
  }
}
