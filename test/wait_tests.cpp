// wait(): ready and pending in input order, timeouts, coroutine form, scale.
#include "test_support.hpp"

#include <vector>

using namespace fray_test;
using fray::ContextKind;

namespace {
fray::Task<int> after_gate(fray::Future<int> gate, int value) {
  co_await gate;
  co_return value;
}
}  // namespace

TEST_CASE("wait of 5 finished futures with num_returns 2 gives 2 ready and 3 pending, in order") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    std::vector<fray::Future<int>> futures;
    for (int i = 0; i < 5; ++i) futures.push_back(ctx.run([](int x) { return x; }, i));
    for (auto& f : futures) f.get();
    auto [ready, pending] = ctx.wait(futures, 2);
    REQUIRE(ready.size() == 2);
    REQUIRE(pending.size() == 3);
    CHECK(ready[0].get() == 0);
    CHECK(ready[1].get() == 1);
    CHECK(pending[0].get() == 2);
    CHECK(pending[2].get() == 4);
  });
}

TEST_CASE("wait keeps input order when futures finish in another order") {
  fray::Runtime runtime(options_for(ContextKind::threads));
  auto& ctx = runtime.context();
  std::vector<fray::Promise<int>> gates(6);
  std::vector<fray::Future<int>> futures;
  for (int i = 0; i < 6; ++i) futures.push_back(ctx.run(after_gate, gates[i].future(), i));
  // Finish 5, 3 and 1, in that order.
  for (int i : {5, 3, 1}) {
    gates[i].set_value(0);
    futures[i].get();
  }
  auto [ready, pending] = ctx.wait(futures, 3);
  REQUIRE(ready.size() == 3);
  CHECK(ready[0].get() == 1);
  CHECK(ready[1].get() == 3);
  CHECK(ready[2].get() == 5);
  REQUIRE(pending.size() == 3);
  CHECK(pending[0].state_ptr() == futures[0].state_ptr());
  CHECK(pending[1].state_ptr() == futures[2].state_ptr());
  CHECK(pending[2].state_ptr() == futures[4].state_ptr());
  for (int i : {0, 2, 4}) gates[i].set_value(0);
}

TEST_CASE("wait blocks until enough futures are ready, then returns") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    fray::Promise<int> gate;
    std::vector<fray::Future<int>> futures;
    futures.push_back(ctx.run(after_gate, gate.future(), 0));
    futures.push_back(ctx.run([] { return 1; }));
    futures.push_back(ctx.run([] { return 2; }));
    auto [ready, pending] = ctx.wait(futures, 2);
    CHECK(ready.size() == 2);
    CHECK(pending.size() == 1);
    CHECK_FALSE(pending[0].ready());
    gate.set_value(0);
    auto all = ctx.wait(futures, 3);
    CHECK(all.ready.size() == 3);
  });
}

TEST_CASE("wait returns at its timeout with what is ready so far") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    fray::Promise<int> never;
    std::vector<fray::Future<int>> futures;
    futures.push_back(ctx.run([] { return 1; }));
    futures.push_back(ctx.run(after_gate, never.future(), 2));
    auto [ready, pending] = ctx.wait(futures, 2, std::chrono::milliseconds(30));
    CHECK(ready.size() == 1);
    CHECK(pending.size() == 1);
    never.set_value(0);
  });
}

TEST_CASE("wait inside a coroutine suspends until enough futures are ready") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    fray::Promise<int> gate;
    auto waiter = runtime.context().run([](fray::Promise<int>* g) -> fray::Task<std::size_t> {
      std::vector<fray::Future<int>> futures;
      futures.push_back(fray::run(after_gate, g->future(), 1));
      futures.push_back(fray::run([] { return 2; }));
      auto first = co_await fray::current_context().wait_async(futures, 1);
      if (first.ready.size() != 1 || first.ready[0].get() != 2) co_return 0;
      g->set_value(0);  // only now can the first future finish
      auto both = co_await fray::current_context().wait_async(futures, 2);
      co_return both.ready.size();
    }, &gate);
    CHECK(waiter.get() == 2);
  });
}

TEST_CASE("wait inside a coroutine honours its timeout") {
  fray::Runtime runtime(options_for(ContextKind::threads));
  fray::Promise<int> never;
  auto waiter = runtime.context().run([](fray::Future<int> g) -> fray::Task<std::size_t> {
    std::vector<fray::Future<int>> futures{fray::run(after_gate, g, 1)};
    auto result = co_await fray::current_context().wait_async(futures, 1, std::chrono::milliseconds(20));
    co_return result.pending.size();
  }, never.future());
  CHECK(waiter.get() == 1);
  never.set_value(0);
}

TEST_CASE("wait over 100,000 futures returns every one of them") {
  fray::Runtime runtime(options_for(ContextKind::threads));
  auto& ctx = runtime.context();
  std::vector<fray::Future<int>> futures;
  for (int i = 0; i < 100000; ++i) futures.push_back(ctx.run([](int x) { return x; }, i));
  auto [ready, pending] = ctx.wait(futures, futures.size());
  CHECK(ready.size() == 100000);
  CHECK(pending.empty());
  CHECK(ready[99999].get() == 99999);
}

TEST_CASE("wait with an empty future is a clear error") {
  std::vector<fray::Future<int>> futures(1);
  CHECK_THROWS_AS(fray::wait(futures, 1), fray::EmptyFuture);
}
