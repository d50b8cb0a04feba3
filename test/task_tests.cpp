// run(): plain and coroutine tasks, arguments, dependencies, nesting, volume.
#include "test_support.hpp"

#include <memory>
#include <numeric>
#include <vector>

using namespace fray_test;
using fray::ContextKind;

namespace {

// Counts how it was passed along: a task must move its arguments, never copy.
struct PassCounter {
  int copies = 0;
  int moves = 0;
  PassCounter() = default;
  PassCounter(const PassCounter& other) : copies(other.copies + 1), moves(other.moves) {}
  PassCounter(PassCounter&& other) noexcept : copies(other.copies), moves(other.moves + 1) {}
};

fray::Task<int> add_later(int a, int b) {
  co_await fray::current_context().sleep(std::chrono::milliseconds(1));
  co_return a + b;
}

fray::Task<int> twice_sum(int a, int b) {
  int first = co_await add_later(a, b);  // an inline child task
  fray::Future<int> second = fray::run(add_later, a, b);
  int other = co_await second;
  co_return first + other;
}

fray::Task<int> chain(int depth) {
  if (depth == 0) co_return 0;
  auto leaf = fray::run([] { return 1; });
  auto deeper = fray::run(chain, depth - 1);
  int below = co_await std::move(deeper);
  int one = co_await std::move(leaf);
  co_return below + one;
}

}  // namespace

TEST_CASE("run of x*2 with 5 gives 10") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto doubled = runtime.context().run([](int x) { return x * 2; }, 5);
    CHECK(doubled.get() == 10);
  });
}

TEST_CASE("arguments are moved into the task, never copied or referenced") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    PassCounter counter;
    auto passed = runtime.context().run([](PassCounter c) { return c.copies; }, std::move(counter));
    CHECK(passed.get() == 0);

    std::string text = "original";
    auto seen = runtime.context().run([](const std::string& s) { return s; }, text);
    text = "changed after run";
    CHECK(seen.get() == "original");

    auto owned = runtime.context().run([](std::unique_ptr<int> p) { return *p + 1; }, std::make_unique<int>(41));
    CHECK(owned.get() == 42);
  });
}

TEST_CASE("a task's exception is rethrown at get with its original type, never at run") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    fray::Future<int> failing;
    CHECK_NOTHROW(failing = runtime.context().run([]() -> int { throw CustomError("boom", 7); }));
    try {
      failing.get();
      FAIL("get should have thrown");
    } catch (const CustomError& error) {
      CHECK(error.code == 7);
      CHECK(std::string(error.what()) == "boom");
    }
    // The same error again for a second reader.
    CHECK_THROWS_AS(failing.get(), CustomError);
  });
}

TEST_CASE("a coroutine task awaits futures, inline child tasks and timers") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    CHECK(runtime.context().run(twice_sum, 20, 1).get() == 42);
  });
}

TEST_CASE("a coroutine task's exception is rethrown with its original type") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto failing = runtime.context().run([](int code) -> fray::Task<int> {
      co_await fray::current_context().sleep(std::chrono::milliseconds(1));
      throw CustomError("late boom", code);
    }, 3);
    CHECK_THROWS_AS(failing.get(), CustomError);
  });
}

TEST_CASE("futures passed as arguments are resolved first and the task gets their values") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    std::atomic<int> order{0};
    auto slow = ctx.run([](std::atomic<int>* o) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      o->store(1);
      return 20;
    }, &order);
    auto sum = ctx.run([](int a, int b, std::atomic<int>* o) { return o->load() == 1 ? a + b : -1; }, slow, 22, &order);
    CHECK(sum.get() == 42);
  });
}

TEST_CASE("a failed dependency fails the dependent task with the same error, without running it") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    std::atomic<bool> ran{false};
    auto bad = ctx.run([]() -> int { throw CustomError("upstream", 1); });
    auto dependent = ctx.run([](int v, std::atomic<bool>* r) { r->store(true); return v; }, bad, &ran);
    CHECK_THROWS_AS(dependent.get(), CustomError);
    CHECK_FALSE(ran.load());
  });
}

TEST_CASE("an object ref passed as an argument gives the task the stored object itself") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto big = ctx.put(std::vector<int>(1000, 3));
    const std::vector<int>* stored = &big.get();
    auto seen = ctx.run([](const std::vector<int>& v) { return &v; }, big);
    CHECK(seen.get() == stored);
    auto total = ctx.run([](const std::vector<int>& v) { return std::accumulate(v.begin(), v.end(), 0); }, big);
    CHECK(total.get() == 3000);
  });
}

TEST_CASE("tasks run nested tasks through the ambient context") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto outer = runtime.context().run([](int n) {
      std::vector<fray::Future<int>> parts;
      for (int i = 0; i < n; ++i) parts.push_back(fray::run([](int x) { return x * x; }, i));
      int sum = 0;
      for (auto& part : parts) sum += part.get();
      return sum;
    }, 10);
    CHECK(outer.get() == 285);
  });
}

TEST_CASE("10,000 nested levels of fan-out on a 2-thread pool complete without deadlock") {
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  CHECK(runtime.context().run(chain, 10000).get() == 10000);
}

TEST_CASE("blocking gets inside tasks do not starve a 2-thread pool") {
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  auto& ctx = runtime.context();
  std::vector<fray::Future<int>> outers;
  for (int i = 0; i < 8; ++i) {
    outers.push_back(ctx.run([](int base) {
      auto inner = fray::run([](int b) { return fray::run([](int c) { return c + 1; }, b).get() + 1; }, base);
      return inner.get();
    }, i));
  }
  for (int i = 0; i < 8; ++i) CHECK(outers[i].get() == i + 2);
}

TEST_CASE("1,000,000 tasks through the pool all run and none is lost") {
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  auto& ctx = runtime.context();
  constexpr int kTasks = 1'000'000;
  std::atomic<std::int64_t> ran{0};
  std::vector<fray::Future<int>> futures;
  futures.reserve(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    futures.push_back(ctx.run([](int v, std::atomic<std::int64_t>* counter) {
      counter->fetch_add(1, std::memory_order_relaxed);
      return v;
    }, i, &ran));
  }
  std::int64_t sum = 0;
  for (auto& future : futures) sum += future.get();
  CHECK(ran.load() == kTasks);
  CHECK(sum == std::int64_t{kTasks} * (kTasks - 1) / 2);
}

TEST_CASE("the inline context runs tasks in submission order on the calling thread") {
  fray::Runtime runtime(options_for(ContextKind::sync));
  auto& ctx = runtime.context();
  std::vector<int> order;
  const auto driver = std::this_thread::get_id();
  std::vector<fray::Future<bool>> futures;
  for (int i = 0; i < 5; ++i) {
    futures.push_back(ctx.run([driver](std::vector<int>* o, int v) {
      o->push_back(v);
      return std::this_thread::get_id() == driver;
    }, &order, i));
  }
  for (auto& future : futures) CHECK(future.get());
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
}
