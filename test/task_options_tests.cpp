// Task options beyond retries and resources: timeouts, retry back-off,
// refused options, cancel scope, throw_if_cancelled, and the bound on
// threads blocked in get (RuntimeOptions::max_extra_threads).
#include "test_support.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

using namespace fray_test;
using fray::ContextKind;
using fray::Resources;
using fray::TaskOptions;

namespace {

using namespace std::chrono_literals;

fray::Task<int> sleep_for_an_hour(std::atomic<int>* attempts) {
  attempts->fetch_add(1);
  co_await fray::current_context().sleep(1h);
  co_return 1;
}

int fail_until(std::atomic<int>* attempts, int successes_after) {
  if (attempts->fetch_add(1) < successes_after) throw CustomError("flaky", 1);
  return 42;
}

// A parent that starts a child, both polling cancel_requested until the
// test releases them (at most 10 s); what each saw is kept here.
struct Family {
  std::atomic<bool> child_started{false};
  std::atomic<bool> release{false};
  std::atomic<bool> parent_saw_cancel{false};
  std::atomic<bool> child_saw_cancel{false};
  std::mutex mutex;
  fray::Future<int> child;
};

// True if cancel_requested came before the release.
bool cancelled_before_release(const std::atomic<bool>& release) {
  eventually([&] { return release.load() || fray::this_task::cancel_requested(); });
  return fray::this_task::cancel_requested();
}

int child_task(Family* family) {
  family->child_started.store(true);
  family->child_saw_cancel.store(cancelled_before_release(family->release));
  return 2;
}

int parent_task(Family* family) {
  auto child = fray::run(child_task, family);
  {
    std::lock_guard guard(family->mutex);
    family->child = child;
  }
  family->parent_saw_cancel.store(cancelled_before_release(family->release));
  return 1;
}

}  // namespace

// ---- timeouts ---------------------------------------------------------------

TEST_CASE("a coroutine task sleeping past its timeout fails with TaskTimeout, which is a TaskCancelled") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("a coroutine task past its timeout", 20s);
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> attempts{0};
    auto task = runtime.context().run(TaskOptions{}.with_timeout(20ms), sleep_for_an_hour, &attempts);
    CHECK_THROWS_AS(task.get(), fray::TaskTimeout);
    CHECK_THROWS_AS(task.get(), fray::TaskCancelled);
    CHECK(attempts.load() == 1);
  });
}

TEST_CASE("a plain task polling cancel_requested ends at its timeout and its future throws TaskTimeout") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("a plain task polling cancel_requested past its timeout", 20s);
    fray::Runtime runtime(options_for(kind));
    std::atomic<bool> saw_cancel{false};
    auto task = runtime.context().run(TaskOptions{}.with_timeout(20ms), [](std::atomic<bool>* saw) {
      saw->store(eventually([] { return fray::this_task::cancel_requested(); }));
      return 5;
    }, &saw_cancel);
    CHECK_THROWS_AS(task.get(), fray::TaskTimeout);
    CHECK(saw_cancel.load());
  });
}

TEST_CASE("a task finishing before its timeout gives its value") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("tasks within their timeout", 20s);
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    CHECK(ctx.run(TaskOptions{}.with_timeout(10s), [](int x) { return x + 1; }, 41).get() == 42);
    auto coroutine = ctx.run(TaskOptions{}.with_timeout(10s), []() -> fray::Task<int> {
      co_await fray::current_context().sleep(1ms);
      co_return 7;
    });
    CHECK(coroutine.get() == 7);
  });
}

TEST_CASE("a timeout is never retried: with max_retries 3 the body runs once and the future throws TaskTimeout") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("a timed-out task with max_retries", 20s);
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> attempts{0};
    auto task = runtime.context().run(TaskOptions{}.with_max_retries(3).with_timeout(20ms), sleep_for_an_hour, &attempts);
    CHECK_THROWS_AS(task.get(), fray::TaskTimeout);
    CHECK(attempts.load() == 1);
  });
}

TEST_CASE("a plain task blocked in get on a never-set promise at its timeout sees TaskCancelled there, and its future throws TaskTimeout") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("a plain task blocked in get past its timeout", 20s);
    fray::Runtime runtime(options_for(kind));
    fray::Promise<int> never;
    // What the get inside the task threw: 0 nothing, 1 TaskCancelled, 2 something else.
    std::atomic<int> inner{0};
    auto task = runtime.context().run(TaskOptions{}.with_timeout(20ms), [](fray::Future<int> pending, std::atomic<int>* in) {
      try {
        return pending.get();
      } catch (const fray::TaskCancelled&) {
        in->store(1);
        throw;
      } catch (...) {
        in->store(2);
        throw;
      }
    }, never.future(), &inner);
    CHECK_THROWS_AS(task.get(), fray::TaskTimeout);
    CHECK(inner.load() == 1);
  });
}

// ---- retry back-off ----------------------------------------------------------

TEST_CASE("with max_retries 3 and a 5 ms back-off, a task failing twice then succeeding gives its value after 3 attempts") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("retries with back-off", 20s);
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> attempts{0};
    auto task = runtime.context().run(TaskOptions{}.with_max_retries(3).with_retry_backoff(5ms), fail_until, &attempts, 2);
    CHECK(task.get() == 42);
    CHECK(attempts.load() == 3);
  });
}

TEST_CASE("a task waiting out its retry back-off gives its cpu back: a cpu task submitted after it completes first") {
  Watchdog watchdog("a cpu(1) task in back-off beside another cpu(1) task", 20s);
  std::mutex mutex;
  std::vector<std::string> finished;  // in the order they completed
  std::atomic<int> attempts{0};
  std::atomic<bool> second_submitted{false};
  fray::Runtime runtime(fray::RuntimeOptions{}
                            .with_context(ContextKind::threads)
                            .with_threads(2)
                            .with_capacity(Resources{}.cpu(1)));
  auto& ctx = runtime.context();
  const auto one_cpu = TaskOptions{}.with_resources(Resources{}.cpu(1));
  auto flaky = ctx.run(TaskOptions(one_cpu).with_max_retries(1).with_retry_backoff(200ms), [&] {
    if (attempts.fetch_add(1) == 0) {
      // Fail only once the second task is queued for the cpu this one holds.
      eventually([&] { return second_submitted.load(); });
      throw CustomError("first attempt", 1);
    }
    std::lock_guard guard(mutex);
    finished.push_back("flaky");
    return 1;
  });
  REQUIRE(eventually([&] { return attempts.load() == 1; }));
  auto second = ctx.run(one_cpu, [&] {
    std::lock_guard guard(mutex);
    finished.push_back("second");
    return 2;
  });
  second_submitted.store(true);
  CHECK(flaky.get() == 1);
  CHECK(second.get() == 2);
  CHECK(attempts.load() == 2);
  CHECK(finished == std::vector<std::string>{"second", "flaky"});
}

TEST_CASE("cancel during a retry back-off ends the task with TaskCancelled and no further attempt runs") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("cancel during a retry back-off", 20s);
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> attempts{0};
    auto task = runtime.context().run(TaskOptions{}.with_max_retries(3).with_retry_backoff(100ms), fail_until, &attempts, 10);
    // In the sync context the first attempt runs here; the back-off follows.
    if (kind == ContextKind::sync) CHECK_THROWS_AS(task.get(1ms), fray::GetTimeout);
    REQUIRE(eventually([&] { return attempts.load() == 1; }));
    task.cancel();
    CHECK_THROWS_AS(task.get(5s), fray::TaskCancelled);
    CHECK(attempts.load() == 1);
    // Well past the 100 ms back-off: the second attempt never came.
    CHECK_FALSE(eventually([&] { return attempts.load() > 1; }, 300ms));
    CHECK(attempts.load() == 1);
  });
}

// ---- refused options ---------------------------------------------------------

TEST_CASE("max_retries below -1 is refused: the future fails with InvalidOptions and the task never runs") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> attempts{0};
    auto task = runtime.context().run(TaskOptions{}.with_max_retries(-2), fail_until, &attempts, 0);
    CHECK_THROWS_AS(task.get(), fray::InvalidOptions);
    CHECK(attempts.load() == 0);
  });
}

// ---- cancel scope ------------------------------------------------------------

TEST_CASE("cancel with CancelScope::task_only reaches the parent but not the child it started, which completes with its value") {
  Watchdog watchdog("cancel(task_only) on a parent with a child", 30s);
  Family family;
  fray::Runtime runtime(options_for(ContextKind::threads, 4));
  auto parent = runtime.context().run(parent_task, &family);
  REQUIRE(eventually([&] { return family.child_started.load(); }));
  parent.cancel(fray::CancelScope::task_only);
  CHECK_THROWS_AS(parent.get(), fray::TaskCancelled);
  family.release.store(true);  // the child ends now unless it saw a cancel before
  fray::Future<int> child;
  {
    std::lock_guard guard(family.mutex);
    child = family.child;
  }
  CHECK(child.get() == 2);
  CHECK(family.parent_saw_cancel.load());
  CHECK_FALSE(family.child_saw_cancel.load());
}

TEST_CASE("the default cancel reaches the child a parent started too") {
  Watchdog watchdog("cancel() on a parent with a child", 30s);
  Family family;
  fray::Runtime runtime(options_for(ContextKind::threads, 4));
  auto parent = runtime.context().run(parent_task, &family);
  REQUIRE(eventually([&] { return family.child_started.load(); }));
  parent.cancel();
  CHECK_THROWS_AS(parent.get(), fray::TaskCancelled);
  fray::Future<int> child;
  {
    std::lock_guard guard(family.mutex);
    child = family.child;
  }
  CHECK_THROWS_AS(child.get(), fray::TaskCancelled);
  family.release.store(true);
  CHECK(family.parent_saw_cancel.load());
  CHECK(family.child_saw_cancel.load());
}

// ---- throw_if_cancelled ------------------------------------------------------

TEST_CASE("this_task::throw_if_cancelled throws TaskCancelled inside a cancelled plain task") {
  Watchdog watchdog("a plain task calling throw_if_cancelled", 20s);
  fray::Runtime runtime(options_for(ContextKind::threads));
  std::atomic<bool> started{false};
  std::atomic<bool> threw{false};
  auto task = runtime.context().run([](std::atomic<bool>* s, std::atomic<bool>* t) {
    s->store(true);
    try {
      // At most 10 s; throw_if_cancelled is what ends the loop.
      const auto until = std::chrono::steady_clock::now() + 10s;
      while (std::chrono::steady_clock::now() < until) {
        fray::this_task::throw_if_cancelled();
        std::this_thread::yield();
      }
    } catch (const fray::TaskCancelled&) {
      t->store(true);
      throw;
    }
    return 1;
  }, &started, &threw);
  REQUIRE(eventually([&] { return started.load(); }));
  // Not cancelled yet: it does not throw.
  CHECK_FALSE(threw.load());
  task.cancel();
  CHECK_THROWS_AS(task.get(), fray::TaskCancelled);
  CHECK(threw.load());
}

// ---- the bound on blocked threads --------------------------------------------

TEST_CASE("with one thread and no extra threads a blocking get inside a task throws TooManyBlockedTasks there") {
  Watchdog watchdog("a blocking get with max_extra_threads 0", 20s);
  fray::Runtime runtime(
      fray::RuntimeOptions{}.with_context(ContextKind::threads).with_threads(1).with_max_extra_threads(0));
  fray::Promise<int> never;
  auto task = runtime.context().run([](fray::Future<int> pending) -> std::string {
    try {
      return std::to_string(pending.get());
    } catch (const fray::TooManyBlockedTasks&) {
      return "too many blocked";
    }
  }, never.future());
  CHECK(task.get() == "too many blocked");
  CHECK(runtime.context().threads_started() == 1);
}

TEST_CASE("with one thread and 4 extra, 4 tasks block in get at once while a fifth still runs, then all complete") {
  Watchdog watchdog("4 tasks blocked in get on a 1-thread pool with 4 extra threads", 30s);
  fray::Runtime runtime(
      fray::RuntimeOptions{}.with_context(ContextKind::threads).with_threads(1).with_max_extra_threads(4));
  auto& ctx = runtime.context();
  constexpr int kBlocked = 4;
  std::vector<fray::Promise<int>> promises(kBlocked);
  std::atomic<int> blocking{0};
  std::vector<fray::Future<int>> blocked;
  for (int i = 0; i < kBlocked; ++i) {
    blocked.push_back(ctx.run([](fray::Future<int> pending, std::atomic<int>* b) {
      b->fetch_add(1);
      return pending.get() + 1;
    }, promises[i].future(), &blocking));
  }
  REQUIRE(eventually([&] { return blocking.load() == kBlocked; }));
  // All four are in get at once; the pool still runs a plain task.
  auto fifth = ctx.run([] { return 5; });
  CHECK(fifth.get(10s) == 5);
  CHECK(ctx.threads_started() > 1);
  CHECK(ctx.threads_started() <= 1 + kBlocked);
  for (int i = 0; i < kBlocked; ++i) {
    CHECK_FALSE(blocked[i].ready());
    promises[i].set_value(i * 10);
  }
  for (int i = 0; i < kBlocked; ++i) CHECK(blocked[i].get() == i * 10 + 1);
}
