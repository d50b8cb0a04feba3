// Future, Promise, put/get: results, timeouts, and errors at the reader.
#include "test_support.hpp"

#include <memory>
#include <vector>

using namespace fray_test;
using fray::ContextKind;

TEST_CASE("put then get gives back the same object without copying") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    std::vector<int> data(100, 7);
    const int* original = data.data();
    auto ref = runtime.context().put(std::move(data));
    CHECK(ref.get().size() == 100);
    CHECK(ref.get().data() == original);     // moved in, not copied
    CHECK(&fray::get(ref) == &ref.get());    // every get is the same object
    auto copy = ref;
    CHECK(&copy.get() == &ref.get());
  });
}

TEST_CASE("get with a timeout throws GetTimeout while the task is still running") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    fray::Promise<int> gate;
    auto waiting = runtime.context().run([](fray::Future<int> g) -> fray::Task<int> {
      int v = co_await g;
      co_return v + 1;
    }, gate.future());
    CHECK_THROWS_AS(waiting.get(std::chrono::milliseconds(20)), fray::GetTimeout);
    gate.set_value(41);
    CHECK(waiting.get(std::chrono::seconds(30)) == 42);
  });
}

TEST_CASE("a promise completes its future from another thread") {
  fray::Promise<std::string> promise;
  auto future = promise.future();
  std::thread setter([p = std::move(promise)]() mutable { p.set_value("from afar"); });
  CHECK(future.get() == "from afar");
  setter.join();
}

TEST_CASE("a dropped promise fails its future with BrokenPromise instead of hanging") {
  fray::Future<int> orphan;
  {
    fray::Promise<int> promise;
    orphan = promise.future();
  }
  CHECK_THROWS_AS(orphan.get(), fray::BrokenPromise);
}

TEST_CASE("an empty future is a clear error, not a crash") {
  fray::Future<int> empty;
  CHECK_FALSE(empty.valid());
  CHECK_THROWS_AS(empty.get(), fray::EmptyFuture);
  CHECK_THROWS_AS((void)empty.ready(), fray::EmptyFuture);
  fray::Runtime runtime(options_for(ContextKind::threads));
  auto dependent = runtime.context().run([](int v) { return v; }, fray::Future<int>());
  CHECK_THROWS_AS(dependent.get(), fray::EmptyFuture);
}

TEST_CASE("get on a temporary future moves a move-only result out") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    std::unique_ptr<int> value = runtime.context().run([] { return std::make_unique<int>(5); }).get();
    REQUIRE(value != nullptr);
    CHECK(*value == 5);
  });
}

TEST_CASE("get on a kept future reads the result in place, as often as asked") {
  fray::Runtime runtime(options_for(ContextKind::threads));
  auto future = runtime.context().run([] { return std::string("kept"); });
  const std::string& first = future.get();
  const std::string& second = future.get();
  CHECK(&first == &second);
  CHECK(first == "kept");
}

TEST_CASE("void tasks complete and rethrow like the others") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> calls{0};
    auto done = runtime.context().run([](std::atomic<int>* c) { c->fetch_add(1); }, &calls);
    done.get();
    CHECK(calls.load() == 1);
    auto failing = runtime.context().run([] { throw CustomError("void boom", 2); });
    CHECK_THROWS_AS(failing.get(), CustomError);
  });
}

TEST_CASE("futures outlive the runtime that fulfilled them") {
  fray::Future<int> kept;
  {
    fray::Runtime runtime(options_for(ContextKind::threads));
    kept = runtime.context().run([] { return 9; });
    kept.get();
  }
  CHECK(kept.get() == 9);
}

TEST_CASE("co_await on an empty future inside a coroutine task throws EmptyFuture, which the coroutine can catch") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto caught = runtime.context().run([]() -> fray::Task<bool> {
      fray::Future<int> empty;
      try {
        (void)co_await empty;
      } catch (const fray::EmptyFuture&) {
        co_return true;
      }
      co_return false;
    });
    CHECK(caught.get());
  });
}

TEST_CASE("co_await on an empty temporary future inside a coroutine task throws EmptyFuture") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto caught = runtime.context().run([]() -> fray::Task<bool> {
      try {
        (void)co_await fray::Future<int>();
      } catch (const fray::EmptyFuture&) {
        co_return true;
      }
      co_return false;
    });
    CHECK(caught.get());
  });
}

TEST_CASE("setting a promise a second time throws and the first value stays") {
  fray::Promise<int> promise;
  auto future = promise.future();
  promise.set_value(1);
  CHECK_THROWS_AS(promise.set_value(2), fray::Error);
  CHECK(future.get() == 1);
}
