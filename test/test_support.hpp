// Shared by the test files: runtimes of each kind, and small helpers.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <fray/fray.hpp>
#include <stdexcept>
#include <string>
#include <thread>

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

}  // namespace fray_test
