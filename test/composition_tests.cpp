// Composition: what Ray users reach for once run/get work: get over a list,
// when_all / when_any in coroutines, waits over mixed kinds, Future<void>
// as an ordering argument, stream timeouts, streaming actor methods, actors
// built from futures, and shutdown racing a submitter.
#include "test_support.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

using namespace fray_test;
using fray::ContextKind;

namespace {

using namespace std::chrono_literals;

fray::Task<std::vector<int>> gather(std::vector<fray::Future<int>> futures) {
  co_return co_await fray::when_all(std::move(futures));
}

fray::Task<std::size_t> first_ready(std::vector<fray::Future<int>> futures) {
  co_return co_await fray::when_any(futures);
}

// Marks `reached` with 1 before the await, 100 after it (never, if cancelled there).
fray::Task<int> suspended_in_when_all(std::vector<fray::Future<int>> futures, std::atomic<int>* reached) {
  reached->store(1);
  auto values = co_await fray::when_all(std::move(futures));
  reached->store(100);
  co_return static_cast<int>(values.size());
}
fray::Task<int> suspended_in_when_any(std::vector<fray::Future<int>> futures, std::atomic<int>* reached) {
  reached->store(1);
  auto index = co_await fray::when_any(futures);
  reached->store(100);
  co_return static_cast<int>(index);
}
fray::Task<int> suspended_in_wait_async(std::vector<fray::Future<int>> futures, std::atomic<int>* reached) {
  reached->store(1);
  auto result = co_await fray::current_context().wait_async(std::move(futures), 1);
  reached->store(100);
  co_return static_cast<int>(result.ready.size());
}

// Waits for a gate, then yields 7.
fray::Generator<int> gated_item(fray::Future<void> gate) {
  co_await gate;
  co_yield 7;
}

struct Numbers {
  fray::Generator<int> count(int n) {
    for (int i = 0; i < n; ++i) co_yield base + i;
  }
  fray::Generator<int> count_then_fail(int n) {
    for (int i = 0; i < n; ++i) co_yield base + i;
    throw CustomError("the actor's generator broke", n);
  }
  int base = 10;
};

struct Holder {
  explicit Holder(int v) : value(v) {}
  int get() const { return value; }
  int add(int n) { return value += n; }
  int value;
};

}  // namespace

// ---- fray::get over a list (ray.get(list)) ---------------------------------

TEST_CASE("get over a vector of futures gives every value in input order") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("fray::get over a vector", 20s);
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    fray::Promise<int> late;
    std::vector<fray::Future<int>> futures;
    futures.push_back(late.future());  // completes last
    for (int i = 1; i < 5; ++i) futures.push_back(ctx.run([](int x) { return x * 10; }, i));
    std::thread setter([&late] {
      std::this_thread::sleep_for(20ms);
      late.set_value(-1);
    });
    std::vector<int> values = fray::get(futures);
    setter.join();
    CHECK(values == std::vector<int>{-1, 10, 20, 30, 40});
  });
}

TEST_CASE("get over a vector with failed futures rethrows the first failure in input order once all completed") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("fray::get over a vector with failures", 20s);
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    fray::Promise<int> late_failure;
    fray::Promise<int> last;
    std::vector<fray::Future<int>> futures;
    futures.push_back(ctx.run([] { return 1; }));
    futures.push_back(late_failure.future());  // fails with code 1, after the one behind it
    futures.push_back(ctx.run([]() -> int { throw CustomError("second failure", 2); }));
    futures.push_back(last.future());  // completes after both failures are known
    std::thread setter([&] {
      std::this_thread::sleep_for(20ms);
      late_failure.set_error(std::make_exception_ptr(CustomError("first failure", 1)));
      std::this_thread::sleep_for(20ms);
      last.set_value(4);
    });
    int code = 0;
    try {
      (void)fray::get(futures);
    } catch (const CustomError& error) {
      code = error.code;
    }
    const bool last_was_ready = futures[3].ready();
    setter.join();
    CHECK(code == 1);
    CHECK(last_was_ready);
  });
}

TEST_CASE("get over a vector holding an empty future throws EmptyFuture") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    std::vector<fray::Future<int>> futures{runtime.context().run([] { return 1; }), fray::Future<int>()};
    CHECK_THROWS_AS(fray::get(futures), fray::EmptyFuture);
  });
}

// ---- when_all / when_any in coroutine tasks --------------------------------

TEST_CASE("co_await when_all over a vector gives every value in input order") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("when_all over a vector", 20s);
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    fray::Promise<int> first;
    std::vector<fray::Future<int>> futures{first.future(), ctx.run([] { return 2; }), fray::make_ready_future(3)};
    auto all = ctx.run(gather, futures);
    // Not before the first one is there.
    CHECK_THROWS_AS(all.get(20ms), fray::GetTimeout);
    first.set_value(1);
    CHECK(all.get() == std::vector<int>{1, 2, 3});
  });
}

TEST_CASE("co_await when_all of an int, a string and a void future gives a tuple of their values") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("when_all of three kinds", 20s);
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    std::atomic<bool> void_ran{false};
    auto number = ctx.run([] { return 42; });
    auto text = ctx.run([] { return std::string("forty-two"); });
    auto nothing = ctx.run([](std::atomic<bool>* ran) { ran->store(true); }, &void_ran);
    auto both = ctx.run([](fray::Future<int> n, fray::Future<std::string> t, fray::Future<void> v) -> fray::Task<std::string> {
      auto [value, words, unit] = co_await fray::when_all(n, t, v);
      static_assert(std::is_same_v<decltype(value), int>);
      static_assert(std::is_same_v<decltype(words), std::string>);
      static_assert(std::is_empty_v<decltype(unit)>);  // the void future's place holds nothing
      (void)unit;
      co_return std::to_string(value) + " " + words;
    }, number, text, nothing);
    CHECK(both.get() == "42 forty-two");
    CHECK(void_ran.load());
  });
}

TEST_CASE("co_await when_all rethrows the first failure in input order") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("when_all with failures", 20s);
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    fray::Promise<int> first;
    std::vector<fray::Future<int>> futures{ctx.run([] { return 0; }), first.future(),
                                           ctx.run([]() -> int { throw CustomError("second", 2); })};
    auto all = ctx.run(gather, futures);
    CHECK_THROWS_AS(all.get(20ms), fray::GetTimeout);  // waits for every one, failed or not
    first.set_error(std::make_exception_ptr(CustomError("first", 1)));
    int code = 0;
    try {
      (void)all.get();
    } catch (const CustomError& error) {
      code = error.code;
    }
    CHECK(code == 1);

    // The tuple form too.
    auto tuple = ctx.run([](fray::Future<int> ok, fray::Future<int> bad) -> fray::Task<int> {
      auto [a, b] = co_await fray::when_all(ok, bad);
      co_return a + b;
    }, ctx.run([] { return 1; }), ctx.run([]() -> int { throw CustomError("tuple", 3); }));
    CHECK_THROWS_AS(tuple.get(), CustomError);
  });
}

TEST_CASE("co_await when_any gives the index of a ready future, the lowest if several") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("when_any", 20s);
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    fray::Promise<int> never;
    std::vector<fray::Future<int>> futures{never.future(), fray::make_ready_future(1), fray::make_ready_future(2)};
    CHECK(ctx.run(first_ready, futures).get() == 1);

    // Suspends until one is ready.
    fray::Promise<int> p0;
    fray::Promise<int> p1;
    auto any = ctx.run(first_ready, std::vector<fray::Future<int>>{p0.future(), p1.future()});
    CHECK_THROWS_AS(any.get(20ms), fray::GetTimeout);
    p1.set_value(5);
    CHECK(any.get() == 1);

    // The variadic form, over futures of different types.
    auto pair = ctx.run([](fray::Future<int> a, fray::Future<std::string> b) -> fray::Task<std::size_t> {
      co_return co_await fray::when_any(a, b);
    }, never.future(), ctx.run([] { return std::string("ready"); }));
    CHECK(pair.get() == 1);
    never.set_value(0);
  });
}

TEST_CASE("cancelling a coroutine task suspended in when_all, when_any or wait_async ends it with TaskCancelled") {
  for_each_context([](ContextKind kind) {
    auto check = [kind](auto coroutine, const char* where) {
      Watchdog watchdog(std::string("cancelling a coroutine suspended in ") + where, 20s);
      fray::Runtime runtime(options_for(kind));
      fray::Promise<int> never;
      std::atomic<int> reached{0};
      auto task = runtime.context().run(coroutine, std::vector<fray::Future<int>>{never.future(), never.future()},
                                        &reached);
      if (kind == ContextKind::sync) CHECK_THROWS_AS(task.get(1ms), fray::GetTimeout);  // runs it up to the await
      REQUIRE(eventually([&] { return reached.load() == 1; }));
      task.cancel();
      INFO("suspended in ", where);
      CHECK_THROWS_AS(task.get(), fray::TaskCancelled);
      CHECK(reached.load() == 1);  // never went past the await
      never.set_value(1);
    };
    check(suspended_in_when_all, "when_all");
    check(suspended_in_when_any, "when_any");
    check(suspended_in_wait_async, "wait_async");
  });
}

// ---- waits over mixed kinds ------------------------------------------------

TEST_CASE("wait over Waitables of different kinds gives ready and pending in input order, each knowing its position") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("wait over mixed Waitables", 20s);
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    fray::Promise<int> number;
    auto text = ctx.run([] { return std::string("done"); });
    auto ref = ctx.put(3);
    auto number_future = number.future();
    auto result = ctx.wait(std::vector<fray::Waitable>{fray::Waitable(number_future), fray::Waitable(text),
                                                       fray::Waitable(ref)},
                           2, 1s);
    REQUIRE(result.ready.size() == 2);
    REQUIRE(result.pending.size() == 1);
    CHECK(result.ready[0].index() == 1);
    CHECK(result.ready[0].is(text));
    CHECK(result.ready[1].index() == 2);  // an object ref is always ready
    CHECK(result.pending[0].index() == 0);
    CHECK(result.pending[0].is(number_future));
    CHECK_FALSE(result.pending[0].is(text));

    // Asking for all three returns at the timeout with what is ready.
    auto partial = ctx.wait(std::vector<fray::Waitable>{number_future, text, ref}, 3, 20ms);
    CHECK(partial.ready.size() == 2);
    CHECK(partial.pending.size() == 1);
    number.set_value(1);
    auto all = ctx.wait(std::vector<fray::Waitable>{number_future, text, ref}, 3);
    REQUIRE(all.ready.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) CHECK(all.ready[i].index() == i);
  });
}

TEST_CASE("in the sync context a wait runs the queued tasks among its items even when a promise's future comes first") {
  Watchdog watchdog("sync wait over a promise's future and a queued task", 20s);
  fray::Runtime runtime(options_for(ContextKind::sync));
  auto& ctx = runtime.context();
  fray::Promise<int> never;
  auto task = ctx.run([] { return 1; });
  auto futures = ctx.wait(std::vector<fray::Future<int>>{never.future(), task}, 1, 1s);
  CHECK(futures.ready.size() == 1);
  CHECK(task.ready());
  auto other = ctx.run([] { return std::string("two"); });
  auto mixed = ctx.wait(std::vector<fray::Waitable>{never.future(), other}, 1, 1s);
  CHECK(mixed.ready.size() == 1);
  CHECK(other.ready());
  never.set_value(0);
}

TEST_CASE("co_await wait_async over Waitables of different kinds gives ready and pending in input order") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("wait_async over mixed Waitables", 20s);
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    fray::Promise<int> number;
    auto number_future = number.future();
    auto text = ctx.run([] { return std::string("done"); });
    auto ref = ctx.put(3);
    // Encodes the result as "ready indices | pending indices".
    auto describe = [](std::vector<fray::Waitable> items, std::size_t n) -> fray::Task<std::string> {
      auto result = co_await fray::current_context().wait_async(std::move(items), n);
      std::string out;
      for (const auto& item : result.ready) out += std::to_string(item.index());
      out += "|";
      for (const auto& item : result.pending) out += std::to_string(item.index());
      co_return out;
    };
    auto items = std::vector<fray::Waitable>{number_future, text, ref};
    CHECK(ctx.run(describe, items, 2).get() == "12|0");
    auto all = ctx.run(describe, items, 3);
    CHECK_THROWS_AS(all.get(20ms), fray::GetTimeout);  // needs the number too
    number.set_value(1);
    CHECK(all.get() == "012|");
  });
}

// ---- Future<void> as an argument -------------------------------------------

TEST_CASE("a Future<void> argument orders the task after it and passes nothing") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("a task ordered after a Future<void>", 20s);
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    fray::Promise<void> before;
    std::atomic<bool> ran{false};
    auto after = ctx.run([](int x, std::atomic<bool>* r) {
      r->store(true);
      return x * 2;
    }, before.future(), 5, &ran);
    CHECK_THROWS_AS(after.get(20ms), fray::GetTimeout);
    CHECK_FALSE(ran.load());
    before.set_value();
    CHECK(after.get() == 10);
    CHECK(ran.load());
  });
}

TEST_CASE("a failed Future<void> argument fails the task with its error without running it") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("a task after a failed Future<void>", 20s);
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    std::atomic<bool> ran{false};
    auto failed = ctx.run([]() { throw CustomError("the void task broke", 9); });
    auto after = ctx.run([](int x, std::atomic<bool>* r) {
      r->store(true);
      return x;
    }, failed, 5, &ran);
    int code = 0;
    try {
      (void)after.get();
    } catch (const CustomError& error) {
      code = error.code;
    }
    CHECK(code == 9);
    CHECK_FALSE(ran.load());
  });
}

// ---- stream timeouts -------------------------------------------------------

TEST_CASE("next_blocking with a timeout throws GetTimeout while the producer is slow, and the stream goes on") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("next_blocking(50ms) on a gated stream", 20s);
    fray::Runtime runtime(options_for(kind));
    fray::Promise<void> gate;
    auto stream = runtime.context().run(gated_item, gate.future());
    CHECK_THROWS_AS(stream.next_blocking(50ms), fray::GetTimeout);
    gate.set_value();
    auto item = stream.next_blocking(10s);
    REQUIRE(item.has_value());
    CHECK(*item == 7);
    CHECK_FALSE(stream.next_blocking().has_value());
  });
}

TEST_CASE("co_await next with a timeout throws GetTimeout in a coroutine while the producer is slow, and the stream goes on") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("co_await next(50ms) on a gated stream", 20s);
    fray::Runtime runtime(options_for(kind));
    fray::Promise<void> gate;
    auto gate_future = gate.future();
    auto consumer = runtime.context().run([](fray::Promise<void>* g, fray::Future<void> gated) -> fray::Task<std::string> {
      auto stream = fray::current_context().run(gated_item, gated);
      std::string seen;
      try {
        (void)co_await stream.next(50ms);
        seen += "item ";
      } catch (const fray::GetTimeout&) {
        seen += "timeout ";
      }
      g->set_value();  // the producer goes on only now
      auto item = co_await stream.next();
      seen += item ? std::to_string(*item) : std::string("end");
      auto end = co_await stream.next();
      seen += end ? " more" : " end";
      co_return seen;
    }, &gate, gate_future);
    CHECK(consumer.get() == "timeout 7 end");
  });
}

// ---- actors ----------------------------------------------------------------

TEST_CASE("an actor method returning a Generator gives a Stream: items in order, then the end") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("a streaming actor method", 20s);
    fray::Runtime runtime(options_for(kind));
    auto actor = runtime.context().create_actor<Numbers>();
    fray::Stream<int> stream = actor.call(&Numbers::count, 5);
    std::vector<int> items;
    while (auto item = stream.next_blocking()) items.push_back(*item);
    CHECK(items == std::vector<int>{10, 11, 12, 13, 14});
    CHECK_FALSE(stream.next_blocking().has_value());
    CHECK_NOTHROW(stream.producer().get());
  });
}

TEST_CASE("an actor generator's exception reaches the consumer after the items before it") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("a failing streaming actor method", 20s);
    fray::Runtime runtime(options_for(kind));
    auto actor = runtime.context().create_actor<Numbers>();
    auto stream = actor.call(&Numbers::count_then_fail, 2);
    CHECK(*stream.next_blocking() == 10);
    CHECK(*stream.next_blocking() == 11);
    CHECK_THROWS_AS(stream.next_blocking(), CustomError);
    CHECK_THROWS_AS(stream.producer().get(), CustomError);
    // The actor lives on.
    auto again = actor.call(&Numbers::count, 1);
    CHECK(*again.next_blocking() == 10);
  });
}

TEST_CASE("an actor built from a future gets its value, and calls made right after wait for the construction") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog("an actor constructed from a promise's future", 20s);
    fray::Runtime runtime(options_for(kind));
    fray::Promise<int> start;
    auto actor = runtime.context().create_actor<Holder>(start.future());
    auto first = actor.call(&Holder::add, 1);
    auto second = actor.call(&Holder::get);
    CHECK_THROWS_AS(first.get(20ms), fray::GetTimeout);  // the constructor has not run
    CHECK_FALSE(second.ready());
    start.set_value(41);
    CHECK(first.get() == 42);
    CHECK(second.get() == 42);
  });
}

// ---- shutdown racing a submitter -------------------------------------------

TEST_CASE("shutdown from another thread while a driver thread submits leaves every future ready, and later runs fail with TaskCancelled") {
  Watchdog watchdog("shutdown while another thread submits", 30s);
  std::mutex mutex;
  std::vector<fray::Future<int>> got;
  std::atomic<std::size_t> count{0};
  std::atomic<bool> stop{false};
  std::atomic<int> ran{0};
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  auto& ctx = runtime.context();
  std::thread submitter([&] {
    for (int i = 0; !stop.load(); ++i) {
      fray::Future<int> future;
      if (i % 3 == 2) {
        // Some suspend a while, so that shutdown finds suspended coroutines.
        future = ctx.run([](int x, std::atomic<int>* r) -> fray::Task<int> {
          r->fetch_add(1);
          co_await fray::current_context().sleep(1ms);
          co_return x;
        }, i, &ran);
      } else {
        future = ctx.run([](int x, std::atomic<int>* r) {
          r->fetch_add(1);
          return x;
        }, i, &ran);
      }
      std::lock_guard guard(mutex);
      got.push_back(std::move(future));
      count.store(got.size());
    }
  });
  // Shut down in mid-flow: many submitted, some already run.
  REQUIRE(eventually([&] { return count.load() >= 2000 && ran.load() >= 100; }));
  runtime.shutdown();
  const std::size_t at_shutdown = count.load();
  // Let the submitter go on past the shutdown for a while.
  const bool went_on = eventually([&] { return count.load() >= at_shutdown + 100; });
  stop.store(true);
  submitter.join();
  CHECK(went_on);
  std::lock_guard guard(mutex);
  std::size_t with_value = 0;
  std::size_t wrong_value = 0;
  std::size_t not_ready = 0;
  std::size_t late_not_cancelled = 0;
  std::size_t first_bad = got.size();
  std::string first_bad_error;
  for (std::size_t i = 0; i < got.size(); ++i) {
    auto& future = got[i];
    if (!future.ready()) {
      ++not_ready;
      continue;
    }
    std::string error;
    try {
      if (future.get() != static_cast<int>(i)) ++wrong_value;
      ++with_value;
      error = "none: it ran";
    } catch (const fray::TaskCancelled&) {
      continue;
    } catch (const std::exception& e) {
      error = e.what();
    }
    // A value is fine before the shutdown returned; at most one run() was
    // in progress then, so every future after it must be cancelled.
    if (error != "none: it ran" || i > at_shutdown) {
      ++late_not_cancelled;
      if (first_bad == got.size()) {
        first_bad = i;
        first_bad_error = error;
      }
    }
  }
  INFO("futures: ", got.size(), ", shutdown returned at ", at_shutdown, "; first neither a value before it nor TaskCancelled: #",
       first_bad, " (error: ", first_bad_error, ")");
  CHECK(not_ready == 0);
  CHECK(wrong_value == 0);
  CHECK(late_not_cancelled == 0);
  CHECK(with_value > 0);
  CHECK_THROWS_AS(ctx.run([] { return 1; }).get(), fray::TaskCancelled);
}
