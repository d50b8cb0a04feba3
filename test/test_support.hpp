// Shared by the test files: runtimes of each kind, and small helpers.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <fray/fray.hpp>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace fray_test {

inline fray::RuntimeOptions options_for(fray::ContextKind kind, std::size_t threads = 2) {
  return fray::RuntimeOptions{}.with_context(kind).with_threads(threads);
}

inline const char* name_of(fray::ContextKind kind) { return kind == fray::ContextKind::sync ? "sync" : "threads"; }

// Runs `body(kind)` once per context kind, each in its own subcase.
template <class Body>
void for_each_context(Body&& body) {
  for (auto kind : {fray::ContextKind::sync, fray::ContextKind::threads}) {
    SUBCASE(name_of(kind)) { body(kind); }
  }
}

// An exception type of the tests' own, to check types survive.
struct CustomError : std::runtime_error {
  int code;
  CustomError(std::string what, int code_value) : std::runtime_error(std::move(what)), code(code_value) {}
};

// Keeps the running maximum of a concurrency counter.
struct ConcurrencyProbe {
  std::atomic<int> now{0};
  std::atomic<int> max{0};
  void enter() {
    int current = now.fetch_add(1) + 1;
    int seen = max.load();
    while (current > seen && !max.compare_exchange_weak(seen, current)) {
    }
  }
  void leave() { now.fetch_sub(1); }
};

// The error `future` fails with, which must be an E (a FAIL otherwise).
template <class E, class F>
E error_of(F&& future) {
  try {
    std::forward<F>(future).get();
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    FAIL("the call failed with another error: " << std::string(e.what()));  // (a char* would print as a pointer)
  }
  FAIL("the call did not fail");
  throw std::logic_error("unreachable");
}

// Polls `done` until it is true or the limit passes; for waiting on the
// side effects of work running on other threads (not for timing).
template <class Done>
bool eventually(Done&& done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Turns a hang into a failure: if it is still alive `limit` after it was
// made, it says what hung on stderr and ends the process with status 3 (a
// test that blocks forever cannot be failed any other way). Declare it
// before what may hang, so that it outlives it (a Runtime, say, whose
// destructor may be what hangs). Limits are generous: the suite also runs
// under ASan and TSan. `on_hang`, if given, runs first (to kill the
// processes a test started, say, so a hang leaves nothing behind).
class Watchdog {
 public:
  explicit Watchdog(std::string what, std::chrono::seconds limit = std::chrono::seconds(20),
                    std::function<void()> on_hang = nullptr)
      : what_(std::move(what)), limit_(limit), on_hang_(std::move(on_hang)), thread_([this] { watch(); }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard guard(mutex_);
      done_ = true;
    }
    done_changed_.notify_one();
    thread_.join();
  }

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    if (done_changed_.wait_for(lock, limit_, [this] { return done_; })) return;
    if (on_hang_) on_hang_();
    std::fprintf(stderr, "watchdog: %s still running after %lld s (hang)\n", what_.c_str(),
                 static_cast<long long>(limit_.count()));
    std::fflush(stderr);
    std::_Exit(3);
  }

  std::string what_;
  std::chrono::seconds limit_;
  std::function<void()> on_hang_;
  std::mutex mutex_;
  std::condition_variable done_changed_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the members it reads exist
};

}  // namespace fray_test
