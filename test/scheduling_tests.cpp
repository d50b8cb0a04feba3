// Which thread runs what: no queued task is stranded behind a long one while
// a thread is idle, and the sync context runs one task at a time whoever
// asks for results.
#include "test_support.hpp"

#include <thread>
#include <vector>

using namespace fray_test;
using fray::ContextKind;

namespace {
using namespace std::chrono_literals;
}  // namespace

TEST_CASE("an idle thread never sits idle while a queued task waits behind a long one") {
  Watchdog watchdog("a long task waiting for the 7 tasks queued behind it (2 threads)", 60s);
  constexpr int kOthers = 7;
  std::atomic<int> gates_started{0};
  std::atomic<bool> release{false};
  std::atomic<int> others_ran{0};
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  auto& ctx = runtime.context();
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    // Every task of the previous round has finished.
    gates_started.store(0);
    release.store(false);
    others_ran.store(0);
    // Both threads busy, so that all the tasks below are queued when a
    // thread next looks for work.
    std::vector<fray::Future<bool>> gates;
    for (int i = 0; i < 2; ++i) {
      gates.push_back(ctx.run([&] {
        gates_started.fetch_add(1);
        return eventually([&] { return release.load(); });
      }));
    }
    REQUIRE(eventually([&] { return gates_started.load() == 2; }));
    // The long one: it ends once every task submitted after it has run,
    // which only the other thread can do (false after 10 s).
    auto first = ctx.run([&] { return eventually([&] { return others_ran.load() == kOthers; }); });
    std::vector<fray::Future<void>> others;
    for (int i = 0; i < kOthers; ++i) others.push_back(ctx.run([&] { others_ran.fetch_add(1); }));
    release.store(true);
    const bool all_ran_meanwhile = first.get();
    CHECK(all_ran_meanwhile);
    for (auto& other : others) other.get();
    for (auto& gate : gates) CHECK(gate.get());
    if (!all_ran_meanwhile) break;
  }
}

TEST_CASE("the sync context runs one task at a time even when two threads get results at once") {
  Watchdog watchdog("two threads draining a sync context", 30s);
  ConcurrencyProbe probe;
  fray::Runtime runtime(fray::RuntimeOptions{}.with_context(ContextKind::sync));
  auto& ctx = runtime.context();
  std::vector<fray::Future<int>> futures;
  for (int i = 0; i < 100; ++i) {
    futures.push_back(ctx.run([](ConcurrencyProbe* p, int v) {
      p->enter();
      std::this_thread::sleep_for(1ms);
      p->leave();
      return v;
    }, &probe, i));
  }
  std::atomic<int> arrived{0};
  auto get_at = [&](std::size_t index) {
    arrived.fetch_add(1);
    while (arrived.load() < 2) std::this_thread::yield();
    try {
      return futures[index].get();
    } catch (...) {
      return -1;
    }
  };
  int got_a = 0;
  int got_b = 0;
  std::thread a([&] { got_a = get_at(98); });
  std::thread b([&] { got_b = get_at(99); });
  a.join();
  b.join();
  CHECK(got_a == 98);
  CHECK(got_b == 99);
  CHECK(probe.max.load() == 1);
}
