// max_retries and retry_if.
#include "test_support.hpp"

using namespace fray_test;
using fray::ContextKind;
using fray::TaskOptions;

namespace {
int fail_until(std::atomic<int>* attempts, int successes_after) {
  if (attempts->fetch_add(1) < successes_after) throw CustomError("flaky", 1);
  return 42;
}

fray::Task<int> coroutine_fail_until(std::atomic<int>* attempts, int successes_after) {
  co_await fray::current_context().sleep(std::chrono::milliseconds(1));
  if (attempts->fetch_add(1) < successes_after) throw CustomError("flaky coroutine", 1);
  co_return 7;
}
}  // namespace

TEST_CASE("a task failing twice then succeeding with max_retries=2 gives its value") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> attempts{0};
    auto result = runtime.context().run(TaskOptions{}.with_max_retries(2), fail_until, &attempts, 2);
    CHECK(result.get() == 42);
    CHECK(attempts.load() == 3);
  });
}

TEST_CASE("a task failing more often than max_retries rethrows its error after the last try") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> attempts{0};
    auto result = runtime.context().run(TaskOptions{}.with_max_retries(2), fail_until, &attempts, 10);
    CHECK_THROWS_AS(result.get(), CustomError);
    CHECK(attempts.load() == 3);
  });
}

TEST_CASE("without max_retries a failing task runs once") {
  fray::Runtime runtime(options_for(ContextKind::threads));
  std::atomic<int> attempts{0};
  auto result = runtime.context().run(fail_until, &attempts, 1);
  CHECK_THROWS_AS(result.get(), CustomError);
  CHECK(attempts.load() == 1);
}

TEST_CASE("retry_if retries only the exceptions it accepts") {
  fray::Runtime runtime(options_for(ContextKind::threads));
  auto& ctx = runtime.context();
  std::atomic<int> attempts{0};
  auto options = TaskOptions{}.with_max_retries(5).with_retry_if(TaskOptions::retry_on<std::logic_error>());
  auto not_retried = ctx.run(options, fail_until, &attempts, 10);
  CHECK_THROWS_AS(not_retried.get(), CustomError);
  CHECK(attempts.load() == 1);

  std::atomic<int> logic_attempts{0};
  auto retried = ctx.run(options, [](std::atomic<int>* a) {
    if (a->fetch_add(1) < 3) throw std::logic_error("retry me");
    return 1;
  }, &logic_attempts);
  CHECK(retried.get() == 1);
  CHECK(logic_attempts.load() == 4);
}

TEST_CASE("coroutine tasks are retried with fresh arguments") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> attempts{0};
    auto result = runtime.context().run(TaskOptions{}.with_max_retries(2), coroutine_fail_until, &attempts, 2);
    CHECK(result.get() == 7);
    CHECK(attempts.load() == 3);
  });
}

TEST_CASE("retries hand each attempt its own copy of the arguments") {
  fray::Runtime runtime(options_for(ContextKind::threads));
  std::atomic<int> attempts{0};
  auto result = runtime.context().run(TaskOptions{}.with_max_retries(3), [](std::string text, std::atomic<int>* a) {
    if (text != "intact") return std::string("corrupted");
    text = "spoiled by this attempt";
    if (a->fetch_add(1) < 2) throw std::runtime_error("again");
    return text;
  }, std::string("intact"), &attempts);
  CHECK(result.get() == "spoiled by this attempt");
  CHECK(attempts.load() == 3);
}

TEST_CASE("max_retries with a move-only argument is a clear error at get") {
  fray::Runtime runtime(options_for(ContextKind::threads));
  auto result = runtime.context().run(TaskOptions{}.with_max_retries(1), [](std::unique_ptr<int> p) { return *p; },
                                      std::make_unique<int>(1));
  CHECK_THROWS_AS(result.get(), fray::InvalidOptions);
}

TEST_CASE("max_retries of -1 retries without limit, as Ray's max_retries=-1") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> attempts{0};
    auto result = runtime.context().run(TaskOptions{}.with_max_retries(-1), fail_until, &attempts, 5);
    int value = 0;
    CHECK_NOTHROW(value = result.get());
    CHECK(value == 42);
    CHECK(attempts.load() == 6);
  });
}

// A retry back in the admission line after its back-off used to ignore
// cancel() and its timeout until the resources it waited for came free.
TEST_CASE("cancel reaches a retry waiting in the admission line after its back-off") {
  using namespace std::chrono_literals;
  Watchdog watchdog("cancel of a retry waiting for its resources", std::chrono::seconds(20));
  fray::Runtime runtime(options_for(ContextKind::threads, 2).with_capacity(fray::Resources{}.cpu(1)));
  auto& ctx = runtime.context();
  const auto cpu1 = fray::TaskOptions{}.with_resources(fray::Resources{}.cpu(1));
  std::atomic<int> attempts{0};
  std::atomic<bool> hold{true};
  auto flaky = ctx.run(fray::TaskOptions(cpu1).with_max_retries(-1).with_retry_backoff(50ms, 1.0, 50ms), [&attempts] {
    attempts.fetch_add(1);
    throw std::runtime_error("again");
    return 0;
  });
  REQUIRE(eventually([&] { return attempts.load() >= 1; }));
  // Takes the cpu during the back-off: the retry then waits in line.
  std::atomic<bool> hog_started{false};
  auto hog = ctx.run(cpu1, [&] {
    hog_started.store(true);
    return eventually([&] { return !hold.load(); }) ? 1 : 0;
  });
  REQUIRE(eventually([&] { return hog_started.load(); }));
  const int attempts_before = attempts.load();
  std::this_thread::sleep_for(150ms);  // past the back-off
  flaky.cancel();
  bool ended = true;
  try {
    flaky.get(5s);
  } catch (const fray::GetTimeout&) {
    ended = false;
  } catch (const fray::TaskCancelled&) {
  }
  CHECK_MESSAGE(ended, "the cancelled retry still waited for the cpu");
  CHECK(attempts.load() == attempts_before);  // it never ran again
  hold.store(false);
  CHECK(hog.get() == 1);
  CHECK_THROWS_AS(flaky.get(), fray::TaskCancelled);
}

TEST_CASE("a task timeout ends a retry waiting in the admission line after its back-off") {
  using namespace std::chrono_literals;
  Watchdog watchdog("timeout of a retry waiting for its resources", std::chrono::seconds(20));
  fray::Runtime runtime(options_for(ContextKind::threads, 2).with_capacity(fray::Resources{}.cpu(1)));
  auto& ctx = runtime.context();
  const auto cpu1 = fray::TaskOptions{}.with_resources(fray::Resources{}.cpu(1));
  std::atomic<bool> hold{true};
  std::atomic<bool> failed_once{false};
  auto flaky = ctx.run(fray::TaskOptions(cpu1).with_max_retries(-1).with_retry_backoff(100ms, 1.0, 100ms).with_timeout(400ms),
                       [&failed_once] {
                         failed_once.store(true);
                         throw std::runtime_error("again");
                         return 0;
                       });
  REQUIRE(eventually([&] { return failed_once.load(); }));
  // Holds the cpu from now on, well past the timeout.
  auto hog = ctx.run(cpu1, [&] { return eventually([&] { return !hold.load(); }) ? 1 : 0; });
  bool ended = true;
  try {
    flaky.get(5s);
  } catch (const fray::GetTimeout&) {
    ended = false;
  } catch (const fray::TaskTimeout&) {
  }
  CHECK_MESSAGE(ended, "the timed-out retry still waited for the cpu");
  hold.store(false);
  CHECK(hog.get() == 1);
  CHECK_THROWS_AS(flaky.get(), fray::TaskTimeout);
}
