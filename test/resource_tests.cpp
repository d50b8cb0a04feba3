// Resource admission: capacities, fractional and named resources, FIFO
// start order, unschedulable requests.
#include "test_support.hpp"

#include <mutex>
#include <vector>

using namespace fray_test;
using fray::ContextKind;
using fray::Resources;
using fray::TaskOptions;

namespace {
fray::Runtime pool_with(Resources capacity, std::size_t threads = 4) {
  return fray::Runtime(options_for(ContextKind::threads, threads).with_capacity(std::move(capacity)));
}

int hold(ConcurrencyProbe* probe) {
  probe->enter();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  probe->leave();
  return 1;
}
}  // namespace

TEST_CASE("8 tasks needing 2 of 4 cpus never run more than 2 at once") {
  auto runtime = pool_with(Resources{}.cpu(4), 4);
  ConcurrencyProbe probe;
  std::vector<fray::Future<int>> futures;
  for (int i = 0; i < 8; ++i) {
    futures.push_back(runtime.context().run(TaskOptions{}.with_resources(Resources{}.cpu(2)), hold, &probe));
  }
  for (auto& f : futures) CHECK(f.get() == 1);
  CHECK(probe.max.load() == 2);
}

TEST_CASE("fractional requests share a unit") {
  auto runtime = pool_with(Resources{}.cpu(1), 4);
  ConcurrencyProbe probe;
  std::vector<fray::Future<int>> futures;
  for (int i = 0; i < 12; ++i) {
    futures.push_back(runtime.context().run(TaskOptions{}.with_resources(Resources{}.cpu(0.25)), hold, &probe));
  }
  for (auto& f : futures) f.get();
  CHECK(probe.max.load() <= 4);
  CHECK(probe.max.load() >= 2);
  CHECK(runtime.context().available().get("cpu") == doctest::Approx(1.0));
}

TEST_CASE("named resources are admitted like cpu") {
  auto runtime = pool_with(Resources{}.cpu(4).set("tpu", 1), 4);
  ConcurrencyProbe probe;
  std::vector<fray::Future<int>> futures;
  for (int i = 0; i < 4; ++i) {
    futures.push_back(runtime.context().run(TaskOptions{}.with_resources(Resources{}.set("tpu", 1)), hold, &probe));
  }
  for (auto& f : futures) f.get();
  CHECK(probe.max.load() == 1);
}

TEST_CASE("waiting tasks start in submission order") {
  auto runtime = pool_with(Resources{}.cpu(1), 4);
  std::mutex mutex;
  std::vector<int> order;
  std::vector<fray::Future<void>> futures;
  for (int i = 0; i < 20; ++i) {
    futures.push_back(runtime.context().run(TaskOptions{}.with_resources(Resources{}.cpu(1)),
                                            [](int index, std::mutex* m, std::vector<int>* o) {
                                              std::lock_guard guard(*m);
                                              o->push_back(index);
                                            }, i, &mutex, &order));
  }
  for (auto& f : futures) f.get();
  std::vector<int> expected(20);
  for (int i = 0; i < 20; ++i) expected[i] = i;
  CHECK(order == expected);
}

TEST_CASE("a request larger than the total fails at once with TaskUnschedulable") {
  auto runtime = pool_with(Resources{}.cpu(2).set("gpu", 1));
  auto& ctx = runtime.context();
  auto too_many_cpus = ctx.run(TaskOptions{}.with_name("greedy").with_resources(Resources{}.cpu(3)), [] { return 1; });
  auto unknown = ctx.run(TaskOptions{}.with_resources(Resources{}.set("fpga", 1)), [] { return 1; });
  REQUIRE(too_many_cpus.ready());  // failed at once, not queued
  REQUIRE(unknown.ready());
  try {
    too_many_cpus.get();
    FAIL("expected TaskUnschedulable");
  } catch (const fray::TaskUnschedulable& error) {
    const std::string message = error.what();
    CHECK(message.find("greedy") != std::string::npos);
    CHECK(message.find("cpu: 3 > 2") != std::string::npos);
  }
  CHECK_THROWS_AS(unknown.get(), fray::TaskUnschedulable);
}

TEST_CASE("a cancelled waiting task does not hold back the tasks behind it") {
  auto runtime = pool_with(Resources{}.cpu(2), 4);
  auto& ctx = runtime.context();
  std::atomic<bool> release{false};
  auto holder = ctx.run(TaskOptions{}.with_resources(Resources{}.cpu(1)), [](std::atomic<bool>* r) {
    while (!r->load()) std::this_thread::yield();
    return 1;
  }, &release);
  auto big = ctx.run(TaskOptions{}.with_resources(Resources{}.cpu(2)), [] { return 2; });
  auto small = ctx.run(TaskOptions{}.with_resources(Resources{}.cpu(1)), [] { return 3; });
  CHECK_THROWS_AS(small.get(std::chrono::milliseconds(20)), fray::GetTimeout);  // behind `big`
  big.cancel();
  CHECK(small.get() == 3);
  release.store(true);
  CHECK(holder.get() == 1);
}

TEST_CASE("resources are given back when a task fails") {
  auto runtime = pool_with(Resources{}.cpu(1), 2);
  auto& ctx = runtime.context();
  auto failing = ctx.run(TaskOptions{}.with_resources(Resources{}.cpu(1)), []() -> int { throw CustomError("x", 1); });
  CHECK_THROWS_AS(failing.get(), CustomError);
  auto next = ctx.run(TaskOptions{}.with_resources(Resources{}.cpu(1)), [] { return 1; });
  CHECK(next.get() == 1);
  CHECK(ctx.available().get("cpu") == doctest::Approx(1.0));
}

TEST_CASE("a coroutine task keeps its resources while it sleeps") {
  auto runtime = pool_with(Resources{}.cpu(1), 2);
  auto& ctx = runtime.context();
  auto sleeper = ctx.run(TaskOptions{}.with_resources(Resources{}.cpu(1)), []() -> fray::Task<int> {
    co_await fray::current_context().sleep(std::chrono::hours(1));
    co_return 1;
  });
  auto waiting = ctx.run(TaskOptions{}.with_resources(Resources{}.cpu(1)), [] { return 5; });
  CHECK_THROWS_AS(waiting.get(std::chrono::milliseconds(20)), fray::GetTimeout);
  sleeper.cancel();
  CHECK(waiting.get() == 5);
  CHECK_THROWS_AS(sleeper.get(), fray::TaskCancelled);
}

TEST_CASE("a coroutine task awaiting another task's result lends its cpu and takes it back before it goes on") {
  auto runtime = pool_with(Resources{}.cpu(1), 2);
  auto& ctx = runtime.context();
  fray::Promise<int> gate;
  std::atomic<int> holders{0};
  auto holder = ctx.run(TaskOptions{}.with_resources(Resources{}.cpu(1)),
                        [](fray::Future<int> g, std::atomic<int>* h) -> fray::Task<int> {
                          int v = co_await g;
                          co_return v + h->load();  // runs again only with its cpu back
                        }, gate.future(), &holders);
  auto lent_to = ctx.run(TaskOptions{}.with_resources(Resources{}.cpu(1)), [](std::atomic<int>* h) {
    h->fetch_add(10);
    return 5;
  }, &holders);
  CHECK(lent_to.get() == 5);  // ran while the holder waited on the gate
  gate.set_value(1);
  CHECK(holder.get() == 11);
  CHECK(ctx.available().get("cpu") == doctest::Approx(1.0));
}

TEST_CASE("resource amounts must be finite and not negative") {
  CHECK_THROWS_AS(Resources{}.cpu(-1), fray::InvalidOptions);
  CHECK_THROWS_AS(Resources{}.set("gpu", std::numeric_limits<double>::infinity()), fray::InvalidOptions);
  CHECK_THROWS_AS(Resources{}.set("", 1), fray::InvalidOptions);
}

TEST_CASE("the default capacity is one cpu per core") {
  fray::Runtime runtime(options_for(ContextKind::threads));
  CHECK(runtime.context().capacity().get("cpu") == doctest::Approx(std::thread::hardware_concurrency()));
}
