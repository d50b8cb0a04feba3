// cancel(): before a task starts, while a coroutine is suspended, while a
// plain task runs, and after it finished.
#include "test_support.hpp"

using namespace fray_test;
using fray::ContextKind;

namespace {
fray::Task<int> sleep_then_count(std::atomic<int>* reached) {
  reached->fetch_add(1);
  co_await fray::current_context().sleep(std::chrono::hours(1));
  reached->fetch_add(100);  // never: the sleep is where it is cancelled
  co_return 1;
}

fray::Task<int> await_then_count(fray::Future<int> gate, std::atomic<int>* reached) {
  reached->fetch_add(1);
  int v = co_await gate;
  reached->fetch_add(100);
  co_return v;
}
}  // namespace

TEST_CASE("a cancelled pending task never runs and get throws TaskCancelled") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind, 1));
    auto& ctx = runtime.context();
    std::atomic<int> ran{0};
    std::atomic<bool> release{kind == ContextKind::sync};
    // On the pool, keep its only thread busy so the next task stays queued.
    auto busy = ctx.run([](std::atomic<bool>* r) {
      while (!r->load()) std::this_thread::yield();
      return 0;
    }, &release);
    auto victim = ctx.run([](std::atomic<int>* r) { r->fetch_add(1000); return 1; }, &ran);
    CHECK(victim.cancel());
    release.store(true);
    CHECK_THROWS_AS(victim.get(), fray::TaskCancelled);
    CHECK(busy.get() == 0);
    auto after = ctx.run([](std::atomic<int>* r) { r->fetch_add(1); return 1; }, &ran);
    CHECK(after.get() == 1);
    CHECK(ran.load() == 1);  // the task after it ran; the victim did not
  });
}

TEST_CASE("a running coroutine task is cancelled at its next suspension point") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> reached{0};
    auto sleeper = runtime.context().run(sleep_then_count, &reached);
    if (kind == ContextKind::sync) CHECK_THROWS_AS(sleeper.get(std::chrono::milliseconds(1)), fray::GetTimeout);
    REQUIRE(eventually([&] { return reached.load() == 1; }));
    CHECK_FALSE(sleeper.cancel());  // it had started
    CHECK_THROWS_AS(sleeper.get(), fray::TaskCancelled);
    CHECK(reached.load() == 1);
  });
}

TEST_CASE("a coroutine awaiting a future is woken by cancel, not by the future") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> reached{0};
    fray::Promise<int> never;
    auto waiting = runtime.context().run(await_then_count, never.future(), &reached);
    if (kind == ContextKind::sync) CHECK_THROWS_AS(waiting.get(std::chrono::milliseconds(1)), fray::GetTimeout);
    REQUIRE(eventually([&] { return reached.load() == 1; }));
    waiting.cancel();
    CHECK_THROWS_AS(waiting.get(), fray::TaskCancelled);
    CHECK(reached.load() == 1);
    never.set_value(1);  // arrives after the cancel: nobody is left to resume
  });
}

TEST_CASE("a cancelled coroutine unwinds: its destructors run") {
  fray::Runtime runtime(options_for(ContextKind::threads));
  auto released = std::make_shared<std::atomic<bool>>(false);
  struct Guard {
    std::shared_ptr<std::atomic<bool>> flag;
    ~Guard() { flag->store(true); }
  };
  std::atomic<bool> started{false};
  auto task = runtime.context().run([](std::shared_ptr<std::atomic<bool>> flag, std::atomic<bool>* s) -> fray::Task<void> {
    Guard guard{std::move(flag)};
    s->store(true);
    co_await fray::current_context().sleep(std::chrono::hours(1));
  }, released, &started);
  REQUIRE(eventually([&] { return started.load(); }));
  task.cancel();
  CHECK_THROWS_AS(task.get(), fray::TaskCancelled);
  CHECK(released->load());
}

TEST_CASE("a plain task cancelled while running sees the request and get reports the cancel") {
  fray::Runtime runtime(options_for(ContextKind::threads));
  std::atomic<bool> started{false};
  auto spinning = runtime.context().run([](std::atomic<bool>* s) {
    s->store(true);
    while (!fray::this_task::cancel_requested()) std::this_thread::yield();
    return 5;
  }, &started);
  REQUIRE(eventually([&] { return started.load(); }));
  spinning.cancel();
  CHECK_THROWS_AS(spinning.get(), fray::TaskCancelled);
}

TEST_CASE("cancel after a task finished changes nothing") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto done = runtime.context().run([] { return 3; });
    CHECK(done.get() == 3);
    CHECK_FALSE(done.cancel());
    CHECK(done.get() == 3);
  });
}

TEST_CASE("a task depending on a cancelled task fails with TaskCancelled") {
  fray::Runtime runtime(options_for(ContextKind::sync));
  auto& ctx = runtime.context();
  auto upstream = ctx.run([] { return 1; });
  auto downstream = ctx.run([](int v) { return v + 1; }, upstream);
  upstream.cancel();
  CHECK_THROWS_AS(downstream.get(), fray::TaskCancelled);
}
