// Blocking get() inside tasks: it must finish however tasks wait on each
// other, never run unrelated work on the blocked task's stack, keep its
// deadline, and lend the resources the blocked task holds.
#include "test_support.hpp"

#include <mutex>
#include <string>
#include <vector>

using namespace fray_test;
using fray::ContextKind;
using fray::Resources;
using fray::TaskOptions;

namespace {

using namespace std::chrono_literals;

int nested_sum(int depth) { return depth == 0 ? 0 : depth + fray::run(nested_sum, depth - 1).get(); }

// Set on a thread for as long as a task on it is blocked in get().
thread_local bool t_inside_blocked_get = false;

fray::RuntimeOptions one_cpu_on_two_threads() {
  return fray::RuntimeOptions{}.with_context(ContextKind::threads).with_threads(2).with_capacity(Resources{}.cpu(1));
}

TaskOptions one_cpu() { return TaskOptions{}.with_resources(Resources{}.cpu(1)); }

}  // namespace

TEST_CASE("a task blocked on a task that is blocked on its own child always completes on 2 threads") {
  Watchdog watchdog("200 rounds of: A gets its child, B gets A (2 threads)", 30s);
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  auto& ctx = runtime.context();
  for (int round = 0; round < 200; ++round) {
    auto a = ctx.run([](int r) { return fray::run([](int x) { return x + 1; }, r).get() + 1; }, round);
    // B declares a Future parameter: it receives A itself and blocks on it.
    auto b = ctx.run([](fray::Future<int> of_a) { return of_a.get() + 1; }, a);
    INFO("round ", round);
    REQUIRE(b.get() == round + 3);
  }
}

TEST_CASE("a chain of plain tasks each blocking on the next completes on 2 threads, 300 and 3,000 deep") {
  auto check_depth = [](int depth) {
    Watchdog watchdog("a chain of " + std::to_string(depth) + " plain tasks, each get()ting the next (2 threads)", 30s);
    fray::Runtime runtime(options_for(ContextKind::threads, 2));
    CHECK(runtime.context().run(nested_sum, depth).get() == depth * (depth + 1) / 2);
  };
  SUBCASE("300 deep") { check_depth(300); }
  SUBCASE("3000 deep") { check_depth(3000); }
}

TEST_CASE("a task holding a mutex across a blocking get never has a task that takes the same mutex run on its stack") {
  Watchdog watchdog("a task holding a mutex, blocked in get, with a task needing that mutex queued", 20s);
  std::mutex mutex;
  std::atomic<bool> blocker_started{false};
  std::atomic<bool> holder_started{false};
  std::atomic<bool> other_submitted{false};
  std::atomic<bool> other_started{false};
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  auto& ctx = runtime.context();
  // Keeps the second thread busy until the unrelated task started somewhere,
  // so that at the get() below the unrelated task is still queued.
  auto blocker = ctx.run([&] {
    blocker_started.store(true);
    return eventually([&] { return other_started.load(); });
  });
  auto holder = ctx.run([&] {
    std::lock_guard guard(mutex);
    holder_started.store(true);
    eventually([&] { return other_submitted.load(); });
    auto child = fray::run([] { return 41; });  // queued behind the unrelated task
    return child.get() + 1;
  });
  REQUIRE(eventually([&] { return blocker_started.load() && holder_started.load(); }));
  auto other = ctx.run([&] {
    other_started.store(true);
    std::lock_guard guard(mutex);
    return 7;
  });
  other_submitted.store(true);
  CHECK(holder.get() == 42);
  CHECK(other.get() == 7);
  CHECK(blocker.get());
}

TEST_CASE("while a task is blocked in get, no unrelated task runs on its thread") {
  Watchdog watchdog("a task blocked in get with unrelated tasks queued", 30s);
  constexpr int kUnrelated = 4;
  std::atomic<bool> blocker_started{false};
  std::atomic<bool> holder_started{false};
  std::atomic<bool> unrelated_submitted{false};
  std::atomic<int> unrelated_started{0};
  std::atomic<int> unrelated_inside_blocked_get{0};
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  auto& ctx = runtime.context();
  auto blocker = ctx.run([&] {
    blocker_started.store(true);
    return eventually([&] { return unrelated_started.load() == kUnrelated; });
  });
  auto holder = ctx.run([&] {
    holder_started.store(true);
    eventually([&] { return unrelated_submitted.load(); });
    auto child = fray::run([] { return 41; });
    t_inside_blocked_get = true;
    const int value = child.get();
    t_inside_blocked_get = false;
    return value + 1;
  });
  REQUIRE(eventually([&] { return blocker_started.load() && holder_started.load(); }));
  std::vector<fray::Future<void>> unrelated;
  for (int i = 0; i < kUnrelated; ++i) {
    unrelated.push_back(ctx.run([&] {
      if (t_inside_blocked_get) unrelated_inside_blocked_get.fetch_add(1);
      unrelated_started.fetch_add(1);
    }));
  }
  unrelated_submitted.store(true);
  CHECK(holder.get() == 42);
  for (auto& task : unrelated) task.get();
  CHECK(blocker.get());
  CHECK(unrelated_inside_blocked_get.load() == 0);
}

TEST_CASE("get with a 100 ms timeout inside a task throws GetTimeout before an unrelated long task queued beside it finishes") {
  Watchdog watchdog("get(100ms) inside a task with a long unrelated task queued", 20s);
  fray::Promise<int> never;
  std::atomic<bool> blocker_started{false};
  std::atomic<bool> holder_started{false};
  std::atomic<bool> unrelated_submitted{false};
  std::atomic<bool> get_returned{false};
  std::atomic<bool> unrelated_finished{false};
  std::atomic<int> unrelated_finished_at_timeout{-1};  // -1: get did not throw GetTimeout
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  auto& ctx = runtime.context();
  auto blocker = ctx.run([&] {
    blocker_started.store(true);
    return eventually([&] { return get_returned.load(); });
  });
  auto holder = ctx.run([&](fray::Future<int> pending) {
    holder_started.store(true);
    eventually([&] { return unrelated_submitted.load(); });
    try {
      (void)pending.get(std::chrono::milliseconds(100));
    } catch (const fray::GetTimeout&) {
      unrelated_finished_at_timeout.store(unrelated_finished.load() ? 1 : 0);
    }
    get_returned.store(true);
  }, never.future());
  REQUIRE(eventually([&] { return blocker_started.load() && holder_started.load(); }));
  // Takes 1.5 s unless the get returns first (then it ends at once).
  auto unrelated = ctx.run([&] {
    eventually([&] { return get_returned.load(); }, std::chrono::milliseconds(1500));
    unrelated_finished.store(true);
  });
  unrelated_submitted.store(true);
  holder.get();
  unrelated.get();
  CHECK(blocker.get());
  CHECK(unrelated_finished_at_timeout.load() == 0);
}

TEST_CASE("a task holding all the cpu and blocked in get on a child asking for cpu lends it the cpu") {
  Watchdog watchdog("cpu(1) task get()ting a cpu(1) child on a cpu(1) runtime", 20s);
  fray::Runtime runtime(one_cpu_on_two_threads());
  auto parent = runtime.context().run(one_cpu(), [] { return fray::run(one_cpu(), [] { return 41; }).get() + 1; });
  CHECK(parent.get() == 42);
}

TEST_CASE("resources are lent down three levels of blocked tasks") {
  Watchdog watchdog("cpu(1) task -> cpu(1) child -> cpu(1) grandchild on a cpu(1) runtime", 20s);
  fray::Runtime runtime(one_cpu_on_two_threads());
  auto parent = runtime.context().run(one_cpu(), [] {
    return fray::run(one_cpu(), [] { return fray::run(one_cpu(), [] { return 40; }).get() + 1; }).get() + 1;
  });
  CHECK(parent.get() == 42);
}

TEST_CASE("a task holding all the cpu gets two children asking for cpu one after the other") {
  Watchdog watchdog("cpu(1) task get()ting two cpu(1) siblings in turn on a cpu(1) runtime", 20s);
  fray::Runtime runtime(one_cpu_on_two_threads());
  auto parent = runtime.context().run(one_cpu(), [] {
    auto first = fray::run(one_cpu(), [] { return 20; });
    auto second = fray::run(one_cpu(), [] { return 22; });
    const int a = first.get();
    const int b = second.get();
    return a + b;
  });
  CHECK(parent.get() == 42);
}
