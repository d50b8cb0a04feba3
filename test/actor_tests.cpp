// Actors: construction on the mailbox, calls in order, one at a time (or up
// to max_concurrency coroutine calls), names, kill, lifetimes, options.
#include "test_support.hpp"

#include <coroutine>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace fray_test;
using fray::ActorDied;
using fray::ActorHandle;
using fray::ActorOptions;
using fray::ContextKind;

namespace {

struct Counter {
  explicit Counter(int start = 0) : value(start) {}
  int add(int n) { return value += n; }
  // A read-modify-write that two overlapping calls would get wrong.
  int increment() {
    const int seen = value;
    std::this_thread::yield();
    value = seen + 1;
    return value;
  }
  int get() const { return value; }
  int value;
};

// What the tests see of an actor's life from outside it.
struct Lifecycle {
  std::atomic<int> constructed{0};
  std::atomic<int> destroyed{0};
  std::atomic<int> started{0};  // coroutine calls that began
  std::mutex mutex;
  std::thread::id constructed_on;
  std::thread::id destroyed_on;
};

struct Tracked {
  explicit Tracked(std::shared_ptr<Lifecycle> life_) : life(std::move(life_)) {
    std::lock_guard guard(life->mutex);
    life->constructed_on = std::this_thread::get_id();
    life->constructed.fetch_add(1);
  }
  ~Tracked() {
    std::lock_guard guard(life->mutex);
    life->destroyed_on = std::this_thread::get_id();
    life->destroyed.fetch_add(1);
  }
  int ping() { return ++pings; }
  // Holds the actor (max_concurrency 1) until `gate` completes.
  fray::Task<int> hold(fray::Future<void> gate) {
    life->started.fetch_add(1);
    co_await gate;
    co_return 7;
  }
  std::shared_ptr<Lifecycle> life;
  int pings = 0;
};

ActorOptions named(std::string name) { return ActorOptions{}.with_name(std::move(name)); }

}  // namespace

TEST_CASE("an actor's methods see the state its constructor and earlier calls left") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto counter = ctx.create_actor<Counter>(100);
    CHECK(counter.call(&Counter::add, 10).get() == 110);
    CHECK(counter.call(&Counter::add, 5).get() == 115);
    CHECK(counter.call(&Counter::get).get() == 115);
    // Any callable taking the object works, not only member functions.
    CHECK(counter.call([](Counter& c, int times) { return c.value * times; }, 2).get() == 230);
  });
}

TEST_CASE("the constructor runs on the actor's executor, not on the caller's thread") {
  SUBCASE("threads") {
    fray::Runtime runtime(options_for(ContextKind::threads));
    auto life = std::make_shared<Lifecycle>();
    auto actor = runtime.context().create_actor<Tracked>(life);
    actor.ready().get();
    std::lock_guard guard(life->mutex);
    CHECK(life->constructed == 1);
    CHECK(life->constructed_on != std::this_thread::get_id());
  }
  SUBCASE("sync: only once somebody waits, like any task there") {
    fray::Runtime runtime(options_for(ContextKind::sync));
    auto life = std::make_shared<Lifecycle>();
    auto actor = runtime.context().create_actor<Tracked>(life);
    CHECK(life->constructed == 0);
    actor.ready().get();
    CHECK(life->constructed == 1);
  }
}

TEST_CASE("calls made before the constructor finished wait behind it") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    struct Gatekeeper {
      Gatekeeper(std::shared_future<void> open, std::shared_ptr<std::vector<int>> log_) : log(std::move(log_)) {
        open.wait();  // on a pool thread: the calls below queue meanwhile
        log->push_back(-1);
      }
      int call(int i) {
        log->push_back(i);
        return i;
      }
      std::shared_ptr<std::vector<int>> log;
    };
    std::promise<void> open;
    auto log = std::make_shared<std::vector<int>>();
    auto actor = runtime.context().create_actor<Gatekeeper>(open.get_future().share(), log);
    std::vector<fray::Future<int>> calls;
    for (int i = 0; i < 3; ++i) calls.push_back(actor.call(&Gatekeeper::call, i));
    open.set_value();
    for (int i = 0; i < 3; ++i) CHECK(calls[i].get() == i);
    CHECK(*log == std::vector<int>{-1, 0, 1, 2});
  });
}

TEST_CASE("a call's future works with get, co_await, wait and as a task's argument") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto counter = ctx.create_actor<Counter>(1);
    CHECK(fray::get(counter.call(&Counter::add, 1)) == 2);
    auto awaited = ctx.run(
        [](ActorHandle<Counter> target) -> fray::Task<int> { co_return co_await target.call(&Counter::add, 1); },
        counter);
    CHECK(awaited.get() == 3);
    auto doubled = ctx.run([](int value) { return value * 2; }, counter.call(&Counter::get));
    CHECK(doubled.get() == 6);
    std::vector<fray::Future<int>> futures{counter.call(&Counter::add, 1), counter.call(&Counter::add, 1)};
    auto result = ctx.wait(std::move(futures), 2);
    REQUIRE(result.ready.size() == 2);
    CHECK(result.ready[0].get() == 4);
    CHECK(result.ready[1].get() == 5);
  });
}

TEST_CASE("a named actor with get_if_exists is built once: 100, later arguments ignored, +10 +0 is 110") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto options = named("counter").with_get_if_exists();
    auto first = ctx.create_actor<Counter>(options, 100);
    auto second = ctx.create_actor<Counter>(options, 5);
    CHECK(first == second);
    second.call(&Counter::add, 10).get();
    CHECK(first.call(&Counter::add, 0).get() == 110);
  });
}

TEST_CASE("100 concurrent increments from tasks on the pool add up to exactly 100") {
  fray::Runtime runtime(options_for(ContextKind::threads, 4));
  auto& ctx = runtime.context();
  auto counter = ctx.create_actor<Counter>();
  std::vector<fray::Future<int>> tasks;
  for (int i = 0; i < 50; ++i) {
    // Half block on the result, half await it.
    tasks.push_back(ctx.run([counter] { return counter.call(&Counter::increment).get(); }));
    tasks.push_back(ctx.run(
        [](ActorHandle<Counter> target) -> fray::Task<int> { co_return co_await target.call(&Counter::increment); },
        counter));
  }
  for (auto& task : tasks) task.get();
  CHECK(counter.call(&Counter::get).get() == 100);
}

TEST_CASE("actor futures work with wait: 5 of 10 ready, then the rest") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto life = std::make_shared<Lifecycle>();
    auto actor = ctx.create_actor<Tracked>(life);
    fray::Promise<void> gate;
    std::vector<fray::Future<int>> futures;
    for (int i = 0; i < 5; ++i) futures.push_back(actor.call(&Tracked::ping));
    futures.push_back(actor.call(&Tracked::hold, gate.future()));  // the rest queue behind it
    for (int i = 0; i < 4; ++i) futures.push_back(actor.call(&Tracked::ping));

    auto first = ctx.wait(futures, 5);
    REQUIRE(first.ready.size() == 5);
    REQUIRE(first.pending.size() == 5);
    for (int i = 0; i < 5; ++i) CHECK(first.ready[i].get() == i + 1);  // input order
    for (auto& pending : first.pending) CHECK_FALSE(pending.ready());

    gate.set_value();
    auto rest = ctx.wait(std::move(first.pending), 5);
    REQUIRE(rest.ready.size() == 5);
    CHECK(rest.ready[0].get() == 7);
    for (int i = 1; i < 5; ++i) CHECK(rest.ready[i].get() == 5 + i);
  });
}

TEST_CASE("unnamed actors of one class keep separate state") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto a = ctx.create_actor<Counter>();
    auto b = ctx.create_actor<Counter>();
    CHECK_FALSE(a == b);
    a.call(&Counter::add, 1).get();
    a.call(&Counter::add, 1).get();
    b.call(&Counter::add, 5).get();
    CHECK(a.call(&Counter::get).get() == 2);
    CHECK(b.call(&Counter::get).get() == 5);
  });
}

TEST_CASE("creating an actor under a taken name fails with ActorNameTaken unless get_if_exists") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto first = ctx.create_actor<Counter>(named("unique"), 1);
    CHECK_THROWS_AS(ctx.create_actor<Counter>(named("unique"), 2), fray::ActorNameTaken);
    CHECK_THROWS_WITH(ctx.create_actor<Counter>(named("unique"), 2), doctest::Contains("'unique' already exists"));
    CHECK(first.call(&Counter::get).get() == 1);
    CHECK(ctx.create_actor<Counter>(named("unique").with_get_if_exists(), 2) == first);
  });
}

TEST_CASE("get_actor finds a live named actor, is empty for an unknown name, and refuses another type") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto counter = ctx.create_actor<Counter>(named("shared"), 41);
    auto found = ctx.get_actor<Counter>("shared");
    REQUIRE(found.has_value());
    CHECK(*found == counter);
    CHECK(found->name() == "shared");
    CHECK(found->call(&Counter::add, 1).get() == 42);
    CHECK_FALSE(ctx.get_actor<Counter>("nobody").has_value());
    CHECK_THROWS_AS(ctx.get_actor<Tracked>("shared"), fray::ActorTypeMismatch);
    CHECK_THROWS_WITH(ctx.get_actor<Tracked>("shared"), doctest::Contains("is a (anonymous namespace)::Counter"));
    auto life = std::make_shared<Lifecycle>();
    CHECK_THROWS_AS(ctx.create_actor<Tracked>(named("shared").with_get_if_exists(), life), fray::ActorTypeMismatch);
    // The ambient spelling finds it too.
    CHECK(fray::get_actor<Counter>("shared").has_value());
  });
}

TEST_CASE("calls from each caller start in the order that caller sent them, one at a time, under contention") {
  struct Log {
    explicit Log(int callers) : last(static_cast<std::size_t>(callers), -1) {}
    void record(int caller, int sequence) {
      probe.enter();
      int& previous = last[static_cast<std::size_t>(caller)];
      if (sequence != previous + 1) ++out_of_order;
      previous = sequence;
      std::this_thread::yield();
      probe.leave();
    }
    std::pair<int, int> report() const { return {out_of_order, probe.max.load()}; }
    std::vector<int> last;
    int out_of_order = 0;
    ConcurrencyProbe probe;
  };
  static constexpr int kCallers = 4;
  static constexpr int kCalls = 2000;
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  auto& ctx = runtime.context();
  auto log = ctx.create_actor<Log>(kCallers + 1);
  std::vector<std::thread> callers;
  for (int caller = 0; caller < kCallers; ++caller) {
    callers.emplace_back([log, caller] {
      std::vector<fray::Future<void>> calls;
      for (int i = 0; i < kCalls; ++i) calls.push_back(log.call(&Log::record, caller, i));
      for (auto& call : calls) call.get();
    });
  }
  // And a task on the pool as a fifth caller.
  auto from_task = ctx.run([log] {
    for (int i = 0; i < kCalls; ++i) log.call(&Log::record, kCallers, i);
  });
  for (auto& thread : callers) thread.join();
  from_task.get();
  const auto [out_of_order, most_at_once] = log.call(&Log::report).get();
  CHECK(out_of_order == 0);
  CHECK(most_at_once == 1);
}

TEST_CASE("with max_concurrency N, coroutine calls interleave at their suspension points, never more than N at once") {
  struct Overlapping {
    fray::Task<int> work(fray::Future<void> gate) {
      probe->enter();
      started->fetch_add(1);
      co_await gate;
      probe->leave();
      co_return 1;
    }
    int plain() {
      probe->enter();
      probe->leave();
      return 2;
    }
    std::shared_ptr<ConcurrencyProbe> probe;
    std::shared_ptr<std::atomic<int>> started;
  };
  for (std::size_t limit : {std::size_t{1}, std::size_t{3}}) {
    CAPTURE(limit);
    fray::Runtime runtime(options_for(ContextKind::threads));
    auto& ctx = runtime.context();
    auto probe = std::make_shared<ConcurrencyProbe>();
    auto started = std::make_shared<std::atomic<int>>(0);
    auto actor = ctx.create_actor<Overlapping>(ActorOptions{}.with_max_concurrency(limit), probe, started);
    fray::Promise<void> gate;
    std::vector<fray::Future<int>> calls;
    for (int i = 0; i < 10; ++i) calls.push_back(actor.call(&Overlapping::work, gate.future()));
    calls.push_back(actor.call(&Overlapping::plain));
    // The first `limit` calls start and suspend on the gate; the rest wait.
    CHECK(eventually([&] { return started->load() == static_cast<int>(limit); }));
    gate.set_value();
    for (auto& call : calls) call.get();
    CHECK(started->load() == 10);
    CHECK(probe->max.load() == static_cast<int>(limit));
  }
}

TEST_CASE("a coroutine method keeps the actor to itself across co_await of tasks and other actors") {
  struct Busy {
    fray::Task<int> slow(ActorHandle<Counter> other) {
      probe->enter();
      const int doubled = co_await fray::run([](int x) { return 2 * x; }, 21);
      const int added = co_await other.call(&Counter::add, doubled);
      probe->leave();
      co_return added;
    }
    int quick() {
      probe->enter();
      probe->leave();
      return 1;
    }
    std::shared_ptr<ConcurrencyProbe> probe;
  };
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto probe = std::make_shared<ConcurrencyProbe>();
    auto other = ctx.create_actor<Counter>();
    auto busy = ctx.create_actor<Busy>(probe);
    std::vector<fray::Future<int>> calls;
    for (int i = 0; i < 20; ++i) {
      calls.push_back(busy.call(&Busy::slow, other));
      calls.push_back(busy.call(&Busy::quick));
    }
    for (auto& call : calls) call.get();
    CHECK(calls[38].get() == 20 * 42);
    CHECK(probe->max.load() == 1);
  });
}

TEST_CASE("a coroutine method resumed elsewhere by a foreign awaitable still finishes through its actor") {
  using Handoff = std::promise<std::coroutine_handle<>>;
  // Not one of fray's awaitables: hands the coroutine to a thread of the test's.
  struct ResumeOnThread {
    Handoff* handoff;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> handle) { handoff->set_value(handle); }
    void await_resume() const noexcept {}
  };
  struct Wanderer {
    fray::Task<int> away(Handoff* handoff) {
      co_await ResumeOnThread{handoff};
      co_return 5;
    }
    int home() { return 6; }
  };
  for_each_context([](ContextKind kind) {
    Handoff handoff;
    std::thread resumer([parked = handoff.get_future()]() mutable { parked.get().resume(); });
    {
      fray::Runtime runtime(options_for(kind));
      auto actor = runtime.context().create_actor<Wanderer>();
      auto away = actor.call(&Wanderer::away, &handoff);
      auto home = actor.call(&Wanderer::home);  // held until `away` has finished
      CHECK(away.get() == 5);
      CHECK(home.get() == 6);
      resumer.join();  // done posting to the runtime before the runtime goes
    }
  });
}

TEST_CASE("a method's exception goes to that call's future only, and the actor lives on") {
  struct Moody {
    int fail(int code) { throw CustomError("bad mood", code); }
    fray::Task<int> fail_later(int code) {
      co_await fray::run([] {});
      throw CustomError("worse mood", code);
    }
    int fine() { return ++calls; }
    int calls = 0;
  };
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto moody = ctx.create_actor<Moody>();
    auto failed = moody.call(&Moody::fail, 3);
    auto failed_later = moody.call(&Moody::fail_later, 4);
    auto fine = moody.call(&Moody::fine);
    try {
      failed.get();
      FAIL("no exception");
    } catch (const CustomError& error) {
      CHECK(error.code == 3);
    }
    try {
      failed_later.get();
      FAIL("no exception");
    } catch (const CustomError& error) {
      CHECK(error.code == 4);
    }
    CHECK(fine.get() == 1);
    CHECK(moody.alive());
    CHECK(moody.call(&Moody::fine).get() == 2);
  });
}

TEST_CASE("a constructor that throws makes every call fail with ActorDied carrying its message") {
  struct Fragile {
    explicit Fragile(bool fail) {
      if (fail) throw CustomError("no luck", 7);
    }
    int ping() { return 1; }
  };
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto fragile = ctx.create_actor<Fragile>(named("fragile"), true);
    auto queued = fragile.call(&Fragile::ping);
    CHECK_THROWS_AS(queued.get(), ActorDied);
    CHECK_THROWS_WITH(queued.get(), doctest::Contains("its constructor threw: no luck"));
    try {
      fragile.ready().get();
      FAIL("no exception");
    } catch (const ActorDied& error) {
      CHECK_THROWS_AS(std::rethrow_exception(error.cause()), CustomError);
    }
    CHECK_FALSE(fragile.alive());
    auto later = fragile.call(&Fragile::ping);
    CHECK(later.ready());  // failed at once
    CHECK_THROWS_AS(later.get(), ActorDied);
    // A dead actor gives its name back.
    CHECK_FALSE(ctx.get_actor<Fragile>("fragile").has_value());
    CHECK(ctx.create_actor<Fragile>(named("fragile"), false).call(&Fragile::ping).get() == 1);
  });
}

TEST_CASE("kill fails the queued calls with ActorDied, runs the destructor on the actor's executor and frees the name") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto life = std::make_shared<Lifecycle>();
    auto victim = ctx.create_actor<Tracked>(named("victim"), life);
    fray::Promise<void> gate;  // never opened
    auto held = victim.call(&Tracked::hold, gate.future());
    std::vector<fray::Future<int>> queued;
    for (int i = 0; i < 5; ++i) queued.push_back(victim.call(&Tracked::ping));
    victim.ready().get();
    REQUIRE(eventually([&] { return life->started.load() == 1; }));

    auto stopped = ctx.kill(victim);
    stopped.get();
    CHECK(life->destroyed == 1);
    if (kind == ContextKind::threads) {
      std::lock_guard guard(life->mutex);
      CHECK(life->destroyed_on != std::this_thread::get_id());
    }
    CHECK_THROWS_AS(held.get(), ActorDied);  // suspended: cancelled
    for (auto& call : queued) CHECK_THROWS_WITH_AS(call.get(), doctest::Contains("'victim'"), ActorDied);
    CHECK_FALSE(victim.alive());
    auto after = victim.call(&Tracked::ping);
    CHECK(after.ready());
    CHECK_THROWS_WITH_AS(after.get(), doctest::Contains("was killed"), ActorDied);
    ctx.kill(victim).get();  // twice is harmless

    CHECK_FALSE(ctx.get_actor<Tracked>("victim").has_value());
    auto successor = ctx.create_actor<Tracked>(named("victim"), life);
    CHECK(successor.call(&Tracked::ping).get() == 1);
    fray::kill(successor).get();
    CHECK(life->destroyed == 2);
  });
}

TEST_CASE("an unnamed actor whose last handle goes runs its queued calls, then its destructor on its executor") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto life = std::make_shared<Lifecycle>();
    fray::Future<int> last;
    {
      auto actor = ctx.create_actor<Tracked>(life);
      for (int i = 0; i < 10; ++i) last = actor.call(&Tracked::ping);
    }
    CHECK(last.get() == 10);
    REQUIRE(eventually([&] { return life->destroyed.load() == 1; }));
    if (kind == ContextKind::threads) {
      std::lock_guard guard(life->mutex);
      CHECK(life->destroyed_on != std::this_thread::get_id());
    }
    CHECK(eventually([&] { return ctx.host().actors().size() == 0; }));
    // A temporary handle is enough for a call.
    CHECK(ctx.create_actor<Counter>(5).call(&Counter::add, 1).get() == 6);
  });
}

TEST_CASE("a named actor stays alive without handles until it is killed") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto life = std::make_shared<Lifecycle>();
    ctx.create_actor<Tracked>(named("keeper"), life).ready().get();
    auto again = ctx.get_actor<Tracked>("keeper");
    REQUIRE(again.has_value());
    CHECK(again->call(&Tracked::ping).get() == 1);
    again.reset();
    CHECK(life->destroyed == 0);
    auto last = fray::get_actor<Tracked>("keeper");
    REQUIRE(last.has_value());
    CHECK(last->call(&Tracked::ping).get() == 2);
    fray::kill(*last).get();
    CHECK(life->destroyed == 1);
  });
}

TEST_CASE("shutdown destroys every actor, fails their calls, and leaves handles safe to drop later") {
  for_each_context([](ContextKind kind) {
    auto life = std::make_shared<Lifecycle>();
    ActorHandle<Tracked> survivor;
    fray::Future<int> held;
    fray::Future<int> queued;
    fray::Promise<void> gate;  // outlives the runtime, never opened
    {
      fray::Runtime runtime(options_for(kind));
      auto& ctx = runtime.context();
      survivor = ctx.create_actor<Tracked>(life);
      ctx.create_actor<Tracked>(named("named"), life).ready().get();
      auto blocked = ctx.create_actor<Tracked>(life);
      held = blocked.call(&Tracked::hold, gate.future());
      queued = blocked.call(&Tracked::ping);
      blocked.ready().get();
      survivor.ready().get();
    }
    CHECK(life->constructed == 3);
    CHECK(life->destroyed == 3);
    CHECK_THROWS_AS(held.get(), ActorDied);
    CHECK_THROWS_WITH_AS(queued.get(), doctest::Contains("shutting down"), ActorDied);
    CHECK_FALSE(survivor.alive());
    CHECK_THROWS_AS(survivor.call(&Tracked::ping).get(), ActorDied);
    CHECK_NOTHROW(fray::kill(survivor).get());
    survivor = {};  // frees the actor in place
  });
}

TEST_CASE("max_pending_calls makes calls beyond it fail at once with ActorMailboxFull") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto life = std::make_shared<Lifecycle>();
    auto actor = ctx.create_actor<Tracked>(ActorOptions{}.with_max_pending_calls(3), life);
    fray::Promise<void> gate;
    auto held = actor.call(&Tracked::hold, gate.future());
    auto second = actor.call(&Tracked::ping);
    auto third = actor.call(&Tracked::ping);
    auto refused = actor.call(&Tracked::ping);
    CHECK(refused.ready());
    CHECK_THROWS_WITH_AS(refused.get(), doctest::Contains("max_pending_calls"), fray::ActorMailboxFull);
    gate.set_value();
    CHECK(held.get() == 7);
    CHECK(second.get() == 1);
    CHECK(third.get() == 2);
    CHECK(actor.call(&Tracked::ping).get() == 3);  // room again
  });
}

TEST_CASE("an actor holds its resources for its lifetime; asking for more than exists fails at once") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind).with_capacity(fray::Resources{}.gpu(1)));
    auto& ctx = runtime.context();
    auto gpu = ActorOptions{}.with_resources(fray::Resources{}.gpu(1));
    CHECK_THROWS_AS(ctx.create_actor<Counter>(ActorOptions{}.with_resources(fray::Resources{}.gpu(2))),
                    fray::TaskUnschedulable);

    auto first = ctx.create_actor<Counter>(gpu, 1);
    first.ready().get();
    CHECK(ctx.available().get("gpu") == 0);

    // The second waits in the admission line: its constructor cannot run.
    auto second = ctx.create_actor<Counter>(gpu, 2);
    auto second_call = second.call(&Counter::get);
    CHECK(ctx.wait(std::vector<fray::Future<int>>{second_call}, 1, std::chrono::milliseconds(20)).ready.empty());
    // A third one killed while it waits never constructs and gives up its place.
    auto third = ctx.create_actor<Counter>(gpu, 3);
    auto third_call = third.call(&Counter::get);
    fray::kill(third).get();
    CHECK_THROWS_AS(third_call.get(), ActorDied);

    fray::kill(first).get();
    CHECK(second_call.get() == 2);
    CHECK(ctx.available().get("gpu") == 0);
    fray::kill(second).get();
    CHECK(ctx.available().get("gpu") == 1);
  });
}

TEST_CASE("Future::cancel on a queued call drops it; the calls around it still run") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto life = std::make_shared<Lifecycle>();
    auto actor = ctx.create_actor<Tracked>(life);
    fray::Promise<void> gate;
    auto held = actor.call(&Tracked::hold, gate.future());
    auto before = actor.call(&Tracked::ping);
    auto dropped = actor.call(&Tracked::ping);
    auto after = actor.call(&Tracked::ping);
    CHECK(dropped.cancel());
    gate.set_value();
    CHECK(held.get() == 7);
    CHECK(before.get() == 1);
    CHECK_THROWS_AS(dropped.get(), fray::TaskCancelled);
    CHECK(after.get() == 2);
  });
}

TEST_CASE("handles can be captured in tasks, passed to other actors, and put") {
  struct Forwarder {
    int forward(ActorHandle<Counter> target, int n) { return target.call(&Counter::add, n).get(); }
    fray::Task<int> forward_async(ActorHandle<Counter> target, int n) {
      co_return co_await target.call(&Counter::add, n);
    }
  };
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto counter = ctx.create_actor<Counter>();
    CHECK(ctx.run([counter] { return counter.call(&Counter::add, 1).get(); }).get() == 1);
    auto forwarder = ctx.create_actor<Forwarder>();
    CHECK(forwarder.call(&Forwarder::forward, counter, 10).get() == 11);
    CHECK(forwarder.call(&Forwarder::forward_async, counter, 100).get() == 111);
    auto ref = ctx.put(counter);
    auto through_ref = ctx.run([](const ActorHandle<Counter>& target) { return target.call(&Counter::add, 1000).get(); }, ref);
    CHECK(through_ref.get() == 1111);
    // Created from inside a task, with the ambient context.
    auto made_inside = ctx.run([] { return fray::create_actor<Counter>(9).call(&Counter::get).get(); });
    CHECK(made_inside.get() == 9);
  });
}

TEST_CASE("invalid actor options are refused when the actor is created") {
  fray::Runtime runtime(options_for(ContextKind::sync));
  auto& ctx = runtime.context();
  CHECK_THROWS_AS(ctx.create_actor<Counter>(ActorOptions{}.with_max_concurrency(0)), fray::InvalidOptions);
  CHECK_THROWS_AS(ctx.create_actor<Counter>(ActorOptions{}.with_get_if_exists()), fray::InvalidOptions);
  ActorHandle<Counter> empty;
  CHECK_FALSE(empty.valid());
  CHECK_THROWS_AS(empty.call(&Counter::get), fray::Error);
}

TEST_CASE("stress: 10,000 actors take 100 calls each") {
  constexpr int kActors = 10'000;
  constexpr int kCalls = 100;
  fray::Runtime runtime(options_for(ContextKind::threads));
  auto& ctx = runtime.context();
  std::vector<ActorHandle<Counter>> actors;
  actors.reserve(kActors);
  for (int i = 0; i < kActors; ++i) actors.push_back(ctx.create_actor<Counter>());
  std::vector<fray::Future<int>> last(kActors);
  for (int round = 0; round < kCalls; ++round) {
    for (int i = 0; i < kActors; ++i) last[static_cast<std::size_t>(i)] = actors[static_cast<std::size_t>(i)].call(&Counter::add, 1);
  }
  int wrong = 0;
  for (auto& future : last) wrong += future.get() == kCalls ? 0 : 1;
  CHECK(wrong == 0);
  actors.clear();
  CHECK(eventually([&] { return ctx.host().actors().size() == 0; }));
}

namespace {
// Three calls that each wait (at most 10 s) until all three have arrived.
struct Rendezvous {
  std::atomic<int> remaining{3};
  std::string arrive() {
    remaining.fetch_sub(1);
    return eventually([this] { return remaining.load() <= 0; }) ? "ok" : "timed out waiting for the others";
  }
};
}  // namespace

TEST_CASE("with max_concurrency 3, three plain method calls run at the same time") {
  Watchdog watchdog("three plain calls meeting inside an actor with max_concurrency 3", std::chrono::seconds(40));
  fray::Runtime runtime(options_for(ContextKind::threads, 4));
  auto actor = runtime.context().create_actor<Rendezvous>(ActorOptions{}.with_max_concurrency(3));
  std::vector<fray::Future<std::string>> calls;
  for (int i = 0; i < 3; ++i) calls.push_back(actor.call(&Rendezvous::arrive));
  for (auto& call : calls) CHECK(call.get() == "ok");
}
