// What a task keeps once it finished (nothing of its function and arguments),
// and what a runtime's destruction does to the tasks and streams it leaves.
#include "test_support.hpp"

#include <optional>

using namespace fray_test;
using fray::ContextKind;

namespace {

using namespace std::chrono_literals;

// Counts its live instances, moved-from ones included.
struct Payload {
  static inline std::atomic<int> live{0};
  Payload() noexcept { live.fetch_add(1); }
  Payload(const Payload&) noexcept { live.fetch_add(1); }
  Payload(Payload&&) noexcept { live.fetch_add(1); }
  Payload& operator=(const Payload&) = default;
  Payload& operator=(Payload&&) = default;
  ~Payload() { live.fetch_sub(1); }
};

int step(int previous, Payload) { return previous + 1; }

struct Keeper {
  int take(Payload) { return 1; }
};

fray::Generator<int> one_two() {
  co_yield 1;
  co_yield 2;
}

// Holds the thread it runs on until the runtime refuses new tasks, i.e.
// until its destructor has begun.
bool hold_thread_until_shutdown() {
  return eventually(
      [] {
        try {
          return fray::run([] {}).ready();  // refused at once once stopping
        } catch (const fray::Error&) {
          return true;
        }
      },
      10s);
}

}  // namespace

TEST_CASE("a chain of 3,000 finished tasks keeps none of their arguments while only the last future is held") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    const int before = Payload::live.load();
    fray::Future<int> last = fray::make_ready_future(0);
    for (int i = 0; i < 3000; ++i) last = ctx.run(step, last, Payload{});
    CHECK(last.get() == 3000);
    CHECK(Payload::live.load() - before <= 1);  // at most the one still in flight
  });
}

TEST_CASE("a finished task keeps nothing its function captured while its future is held") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    const int before = Payload::live.load();
    auto done = runtime.context().run([payload = Payload{}] { return 5; });
    CHECK(done.get() == 5);
    CHECK(Payload::live.load() - before == 0);
  });
}

TEST_CASE("a finished actor call keeps none of its arguments while its future is held") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto actor = runtime.context().create_actor<Keeper>();
    const int before = Payload::live.load();
    auto done = actor.call(&Keeper::take, Payload{});
    CHECK(done.get() == 1);
    CHECK(Payload::live.load() - before == 0);
  });
}

TEST_CASE("destroying a runtime does not wait for a task whose argument future never completes; the task is cancelled") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog(std::string("~Runtime with a task waiting for a never-set promise (") + name_of(kind) + ")", 20s);
    fray::Promise<int> never;  // outlives the runtime
    fray::Future<int> waiting;
    {
      fray::Runtime runtime(options_for(kind));
      waiting = runtime.context().run([](int x) { return x; }, never.future());
    }
    CHECK_THROWS_AS(waiting.get(), fray::TaskCancelled);
    never.set_value(1);  // nobody is left to receive it: must be harmless
    CHECK_THROWS_AS(waiting.get(), fray::TaskCancelled);
  });
}

TEST_CASE("a stream whose producer was still queued when its runtime was destroyed ends with TaskCancelled") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog(std::string("next_blocking on a stream of a destroyed runtime (") + name_of(kind) + ")", 20s);
    std::atomic<bool> busy_started{false};
    std::optional<fray::Runtime> runtime(std::in_place, options_for(kind, 1));
    auto& ctx = runtime->context();
    std::optional<fray::Future<bool>> busy;
    if (kind == ContextKind::threads) {
      // The only thread stays busy until shutdown, so the producer is queued
      // when the runtime goes. (The sync context runs nothing until asked.)
      busy = ctx.run([](std::atomic<bool>* started) {
        started->store(true);
        return hold_thread_until_shutdown();
      }, &busy_started);
      REQUIRE(eventually([&] { return busy_started.load(); }));
    }
    auto stream = ctx.run(one_two);
    runtime.reset();
    CHECK_THROWS_AS(
        {
          while (stream.next_blocking()) {
          }
        },
        fray::TaskCancelled);
    if (busy) CHECK(busy->get());
  });
}
