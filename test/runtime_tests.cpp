// Runtime: embedding, choosing a context, the ambient context, shutdown.
#include "test_support.hpp"

#include <cstdlib>
#include <vector>

using namespace fray_test;
using fray::ContextKind;

namespace {
// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  ScopedEnv(std::string key, const char* value) : name(std::move(key)) {
    if (value != nullptr) {
      setenv(name.c_str(), value, 1);
    } else {
      unsetenv(name.c_str());
    }
  }
  ~ScopedEnv() { unsetenv(name.c_str()); }
};

fray::Task<int> sleep_long(std::atomic<int>* started) {
  started->fetch_add(1);
  co_await fray::current_context().sleep(std::chrono::hours(1));
  co_return 1;
}
}  // namespace

TEST_CASE("a runtime needs no configuration and runs a task") {
  fray::Runtime runtime;
  CHECK(runtime.context().run([] { return 1; }).get() == 1);
}

TEST_CASE("FRAY_CONTEXT chooses the context when the code does not") {
  {
    ScopedEnv env("FRAY_CONTEXT", "sync");
    fray::Runtime runtime;
    CHECK(runtime.context().kind() == ContextKind::sync);
  }
  {
    ScopedEnv env("FRAY_CONTEXT", "threads");
    fray::Runtime runtime;
    CHECK(runtime.context().kind() == ContextKind::threads);
  }
  {
    ScopedEnv env("FRAY_CONTEXT", nullptr);
    fray::Runtime runtime;
    CHECK(runtime.context().kind() == ContextKind::threads);
  }
  {
    ScopedEnv env("FRAY_CONTEXT", "sync");
    fray::Runtime runtime(fray::RuntimeOptions{}.with_context(ContextKind::threads));
    CHECK(runtime.context().kind() == ContextKind::threads);  // code wins
  }
}

TEST_CASE("an unknown FRAY_CONTEXT is a clear error") {
  ScopedEnv env("FRAY_CONTEXT", "cluster");
  try {
    fray::Runtime runtime;
    FAIL("expected InvalidOptions");
  } catch (const fray::InvalidOptions& error) {
    CHECK(std::string(error.what()).find("cluster") != std::string::npos);
  }
}

TEST_CASE("the pool has one thread per core unless told otherwise") {
  fray::Runtime runtime(fray::RuntimeOptions{}.with_context(ContextKind::threads));
  CHECK(runtime.context().thread_count() == std::thread::hardware_concurrency());
  fray::Runtime three(options_for(ContextKind::threads, 3));
  CHECK(three.context().thread_count() == 3);
}

TEST_CASE("the pool runs tasks on several threads at once") {
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  std::atomic<int> arrived{0};
  auto meet = [](std::atomic<int>* a) {
    a->fetch_add(1);
    // Each waits for the other: only possible on two threads.
    while (a->load() < 2) std::this_thread::yield();
    return true;
  };
  auto first = runtime.context().run(meet, &arrived);
  auto second = runtime.context().run(meet, &arrived);
  CHECK(first.get());
  CHECK(second.get());
}

TEST_CASE("inside a task the ambient context is the task's own") {
  for_each_context([](ContextKind kind) {
    fray::Runtime outer(options_for(kind));
    fray::Runtime inner(options_for(kind));  // the newest runtime is the process default
    auto seen = outer.context().run([] { return &fray::current_context(); });
    CHECK(seen.get() == &outer.context());
    CHECK(&fray::current_context() == &inner.context());
  });
}

TEST_CASE("current_context without any runtime is a clear error") {
  CHECK_THROWS_AS(fray::current_context(), fray::NoContext);
}

TEST_CASE("shutdown cancels queued tasks and waits for the running one") {
  std::atomic<int> ran{0};
  std::atomic<bool> started{false};
  fray::Future<int> running;
  std::vector<fray::Future<int>> queued;
  {
    fray::Runtime runtime(options_for(ContextKind::threads, 1));
    running = runtime.context().run([](std::atomic<bool>* s) {
      s->store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      return 7;
    }, &started);
    for (int i = 0; i < 100; ++i) {
      queued.push_back(runtime.context().run([](std::atomic<int>* r) { return r->fetch_add(1); }, &ran));
    }
    REQUIRE(eventually([&] { return started.load(); }));
  }
  CHECK(running.ready());
  CHECK(running.get() == 7);
  CHECK(ran.load() == 0);
  for (auto& future : queued) CHECK_THROWS_AS(future.get(), fray::TaskCancelled);
}

TEST_CASE("shutdown wakes suspended coroutine tasks with cancellation") {
  for_each_context([](ContextKind kind) {
    std::atomic<int> started{0};
    fray::Future<int> sleeper;
    {
      fray::Runtime runtime(options_for(kind));
      sleeper = runtime.context().run(sleep_long, &started);
      if (kind == ContextKind::sync) CHECK_THROWS_AS(sleeper.get(std::chrono::milliseconds(1)), fray::GetTimeout);
      REQUIRE(eventually([&] { return started.load() == 1; }));
    }  // returns long before the hour is up
    CHECK_THROWS_AS(sleeper.get(), fray::TaskCancelled);
  });
}

TEST_CASE("the sync context runs nothing until a result is asked for, and shutdown cancels it") {
  std::atomic<int> ran{0};
  fray::Future<int> never_asked;
  {
    fray::Runtime runtime(options_for(ContextKind::sync));
    never_asked = runtime.context().run([](std::atomic<int>* r) { return r->fetch_add(1); }, &ran);
  }
  CHECK(ran.load() == 0);
  CHECK_THROWS_AS(never_asked.get(), fray::TaskCancelled);
}

TEST_CASE("tasks submitted while the runtime shuts down are cancelled, not lost") {
  std::vector<fray::Future<int>> late;
  std::mutex mutex;
  {
    fray::Runtime runtime(options_for(ContextKind::threads, 2));
    for (int i = 0; i < 50; ++i) {
      runtime.context().run([](std::vector<fray::Future<int>>* out, std::mutex* m) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        auto child = fray::run([] { return 1; });
        std::lock_guard guard(*m);
        out->push_back(std::move(child));
      }, &late, &mutex);
    }
  }
  for (auto& future : late) {
    REQUIRE(future.ready());
    if (future.has_error()) CHECK_THROWS_AS(future.get(), fray::TaskCancelled);
  }
}

// Shutdown used to cancel only the tasks blocked at the moment it looked:
// one that blocked a moment later kept the pool's stop() waiting forever.
TEST_CASE("shutdown cancels a plain task that blocks in get just after shutdown began") {
  Watchdog watchdog("shutdown with a task that blocks after it began", std::chrono::seconds(20));
  fray::Promise<int> never;  // kept alive, never set
  fray::Future<int> gate = never.future();
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  std::atomic<bool> started{false};
  std::atomic<bool> let_block{false};
  auto task = runtime.context().run([&started, &let_block, gate] {
    started.store(true);
    // Still running, not yet blocked, when shutdown looks.
    while (!let_block.load()) std::this_thread::yield();
    return gate.get();
  });
  REQUIRE(eventually([&] { return started.load(); }));
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // shutdown has looked by now (or soon will)
    let_block.store(true);
  });
  runtime.shutdown();
  late.join();
  CHECK_THROWS_AS(task.get(), fray::TaskCancelled);
}

TEST_CASE("shutdown from another thread cancels a task blocked in get on the sync context's driver") {
  Watchdog watchdog("sync-context shutdown from another thread", std::chrono::seconds(20));
  fray::Promise<int> never;
  fray::Future<int> gate = never.future();
  fray::Runtime runtime(options_for(ContextKind::sync));
  std::atomic<bool> blocked_soon{false};
  auto task = runtime.context().run([&blocked_soon, gate] {
    blocked_soon.store(true);
    return gate.get();
  });
  std::thread stopper([&] {
    while (!blocked_soon.load()) std::this_thread::yield();
    runtime.shutdown();
  });
  CHECK_THROWS_AS(task.get(), fray::TaskCancelled);  // this thread drives the task and blocks in it
  stopper.join();
}
