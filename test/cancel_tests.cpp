// cancel(): before a task starts, while a coroutine is suspended, while a
// plain task runs, and after it finished.
#include "test_support.hpp"

#include <mutex>

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

// A parent, its child and its grandchild, as the test sees them.
struct Family {
  std::atomic<bool> child_started{false};
  std::atomic<bool> grandchild_started{false};
  std::atomic<bool> child_saw_cancel{false};
  std::atomic<bool> grandchild_saw_cancel{false};
  std::mutex mutex;
  fray::Future<int> child;
  fray::Future<int> grandchild;
};

// Polls this_task::cancel_requested() for at most 10 s; true if it came.
bool wait_for_cancel_request() {
  return eventually([] { return fray::this_task::cancel_requested(); }, std::chrono::seconds(10));
}

int grandchild_task(Family* family) {
  family->grandchild_started.store(true);
  family->grandchild_saw_cancel.store(wait_for_cancel_request());
  return 3;
}

int child_task(Family* family) {
  auto grandchild = fray::run(grandchild_task, family);
  {
    std::lock_guard guard(family->mutex);
    family->grandchild = grandchild;
  }
  family->child_started.store(true);
  family->child_saw_cancel.store(wait_for_cancel_request());
  return 2;
}

int plain_parent(Family* family) {
  auto child = fray::run(child_task, family);
  {
    std::lock_guard guard(family->mutex);
    family->child = child;
  }
  wait_for_cancel_request();
  return 1;
}

fray::Task<int> coroutine_parent(Family* family) {
  auto child = fray::run(child_task, family);
  {
    std::lock_guard guard(family->mutex);
    family->child = child;
  }
  co_await fray::current_context().sleep(std::chrono::hours(1));
  co_return 1;
}

// Holds its thread until `go` is set (at most 10 s), then awaits something
// that is ready at once: the cancellation must still be seen there.
fray::Task<int> await_ready_after(std::atomic<bool>* started, std::atomic<bool>* go, std::atomic<int>* threw,
                                  bool use_sleep) {
  started->store(true);
  eventually([go] { return go->load(); });
  try {
    if (use_sleep) {
      co_await fray::current_context().sleep(std::chrono::seconds(0));
    } else {
      (void)co_await fray::make_ready_future(1);
    }
    threw->store(0);
  } catch (const fray::TaskCancelled&) {
    threw->store(1);
  }
  co_return 5;
}

struct SlowStart {
  SlowStart() { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }
  int ping() { return 1; }
};

template <class Parent>
void check_cancel_reaches_descendants(Parent parent_fn) {
  Watchdog watchdog("cancelled parent with a child and a grandchild polling cancel_requested", std::chrono::seconds(40));
  Family family;
  fray::Runtime runtime(options_for(ContextKind::threads, 4));
  auto parent = runtime.context().run(parent_fn, &family);
  REQUIRE(eventually([&] { return family.child_started.load() && family.grandchild_started.load(); }));
  parent.cancel();
  CHECK_THROWS_AS(parent.get(), fray::TaskCancelled);
  fray::Future<int> child;
  fray::Future<int> grandchild;
  {
    std::lock_guard guard(family.mutex);
    child = family.child;
    grandchild = family.grandchild;
  }
  CHECK_THROWS_AS(child.get(), fray::TaskCancelled);
  CHECK_THROWS_AS(grandchild.get(), fray::TaskCancelled);
  CHECK(family.child_saw_cancel.load());
  CHECK(family.grandchild_saw_cancel.load());
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

TEST_CASE("cancelling a plain parent task cancels the child and grandchild it started") {
  check_cancel_reaches_descendants(plain_parent);
}

TEST_CASE("cancelling a coroutine parent task cancels the child and grandchild it started") {
  check_cancel_reaches_descendants(coroutine_parent);
}

TEST_CASE("this_task::cancel_requested is true inside a cancelled coroutine task") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("a cancelled coroutine task", std::chrono::seconds(20));
    std::atomic<int> reached{0};
    std::atomic<int> seen{-1};  // -1: never reached the handler
    fray::Runtime runtime(options_for(kind));
    auto task = runtime.context().run([](std::atomic<int>* r, std::atomic<int>* s) -> fray::Task<int> {
      r->store(1);
      try {
        co_await fray::current_context().sleep(std::chrono::hours(1));
      } catch (const fray::TaskCancelled&) {
        s->store(fray::this_task::cancel_requested() ? 1 : 0);
      }
      co_return 0;
    }, &reached, &seen);
    if (kind == ContextKind::sync) CHECK_THROWS_AS(task.get(std::chrono::milliseconds(1)), fray::GetTimeout);
    REQUIRE(eventually([&] { return reached.load() == 1; }));
    task.cancel();
    CHECK_THROWS_AS(task.get(), fray::TaskCancelled);
    CHECK(seen.load() == 1);
  });
}

TEST_CASE("co_await on an already-ready future in a cancelled coroutine task throws TaskCancelled") {
  Watchdog watchdog("a cancelled coroutine awaiting a ready future", std::chrono::seconds(20));
  std::atomic<bool> started{false};
  std::atomic<bool> go{false};
  std::atomic<int> threw{-1};
  fray::Runtime runtime(options_for(ContextKind::threads));
  auto task = runtime.context().run(await_ready_after, &started, &go, &threw, false);
  REQUIRE(eventually([&] { return started.load(); }));
  task.cancel();
  go.store(true);
  CHECK_THROWS_AS(task.get(), fray::TaskCancelled);
  CHECK(threw.load() == 1);
}

TEST_CASE("co_await of a zero-length sleep in a cancelled coroutine task throws TaskCancelled") {
  Watchdog watchdog("a cancelled coroutine sleeping for 0 s", std::chrono::seconds(20));
  std::atomic<bool> started{false};
  std::atomic<bool> go{false};
  std::atomic<int> threw{-1};
  fray::Runtime runtime(options_for(ContextKind::threads));
  auto task = runtime.context().run(await_ready_after, &started, &go, &threw, true);
  REQUIRE(eventually([&] { return started.load(); }));
  task.cancel();
  go.store(true);
  CHECK_THROWS_AS(task.get(), fray::TaskCancelled);
  CHECK(threw.load() == 1);
}

TEST_CASE("cancelling an actor's ready() future does not kill the actor") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("an actor whose ready() was cancelled", std::chrono::seconds(20));
    std::atomic<bool> release{false};
    fray::Runtime runtime(options_for(kind, 1));
    auto& ctx = runtime.context();
    fray::Future<bool> busy;
    if (kind == ContextKind::threads) {
      // The only thread is busy, so the constructor has not started when
      // ready() is cancelled (in the sync context nothing has).
      busy = ctx.run([](std::atomic<bool>* r) { return eventually([r] { return r->load(); }); }, &release);
    }
    auto actor = ctx.create_actor<SlowStart>();
    actor.ready().cancel();
    release.store(true);
    int pinged = 0;
    CHECK_NOTHROW(pinged = actor.call(&SlowStart::ping).get());
    CHECK(pinged == 1);
    CHECK(actor.alive());
    if (busy.valid()) CHECK(busy.get());
  });
}

// The cancel used to drop the task's arguments first and then take its
// waiter back from every argument's state, one of which the arguments had
// just freed (ASan: heap-use-after-free).
TEST_CASE("cancelling a waiting task whose argument holds the last reference to a finished future is safe") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("cancel of a task holding a finished future", std::chrono::seconds(20));
    fray::Runtime runtime(options_for(kind, 2).with_capacity(fray::Resources{}.cpu(1)));
    auto& ctx = runtime.context();
    auto upstream = ctx.run([] { return 1; });
    REQUIRE(upstream.get() == 1);
    std::atomic<bool> hold{true};
    std::atomic<bool> hog_started{false};
    fray::Future<int> hog;
    const auto cpu1 = fray::TaskOptions{}.with_resources(fray::Resources{}.cpu(1));
    if (kind == ContextKind::threads) {
      // Holds the only cpu, so the next task waits in the admission line.
      hog = ctx.run(cpu1, [&] {
        hog_started.store(true);
        return eventually([&] { return !hold.load(); }) ? 1 : 0;
      });
      REQUIRE(eventually([&] { return hog_started.load(); }));
    }
    // In the sync context it waits in the queue until someone gets it.
    auto downstream = ctx.run(cpu1, [](int v) { return v + 1; }, std::move(upstream));
    CHECK(downstream.cancel());
    CHECK_THROWS_AS(downstream.get(), fray::TaskCancelled);
    hold.store(false);
    if (hog.valid()) CHECK(hog.get() == 1);
  });
}
