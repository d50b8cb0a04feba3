// Per-task options, following Ray's @ray.remote options.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <string>

#include "fray/resources.hpp"

namespace fray {

// How long to wait before each retry: `initial`, then times `multiplier`
// after each failure, never more than `max`.
struct RetryBackoff {
  std::chrono::nanoseconds initial{0};
  double multiplier = 2.0;
  std::chrono::nanoseconds max = std::chrono::seconds(60);
};

struct TaskOptions {
  // Shown in errors and logs.
  std::string name;
  // How many times to run the task again after it throws; -1 retries
  // without limit (Ray). Cancellation, timeouts and unschedulable requests
  // are never retried. Streaming tasks cannot be retried (InvalidOptions).
  int max_retries = 0;
  // Opt-in filter: only exceptions for which this returns true are retried.
  // Empty means every exception is retried (up to max_retries).
  std::function<bool(const std::exception_ptr&)> retry_if;
  // Delay between attempts; none by default. A task waiting to retry gives
  // its resources back and queues for them again.
  RetryBackoff retry_backoff;
  // What the task holds while it runs; empty asks for nothing.
  Resources resources;
  // Cancels the task if it has not finished this long after it started
  // (all attempts together); its future then throws TaskTimeout.
  std::optional<std::chrono::nanoseconds> timeout;

  TaskOptions& with_name(std::string value) { name = std::move(value); return *this; }
  TaskOptions& with_max_retries(int value) { max_retries = value; return *this; }
  TaskOptions& with_retry_if(std::function<bool(const std::exception_ptr&)> value) {
    retry_if = std::move(value);
    return *this;
  }
  template <class Rep, class Period>
  TaskOptions& with_retry_backoff(std::chrono::duration<Rep, Period> initial, double multiplier = 2.0,
                                  std::chrono::nanoseconds max = std::chrono::seconds(60)) {
    retry_backoff = RetryBackoff{std::chrono::duration_cast<std::chrono::nanoseconds>(initial), multiplier, max};
    return *this;
  }
  TaskOptions& with_resources(Resources value) { resources = std::move(value); return *this; }
  template <class Rep, class Period>
  TaskOptions& with_timeout(std::chrono::duration<Rep, Period> value) {
    timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(value);
    return *this;
  }

  // True when nothing differs from the defaults (the common, free case).
  bool is_default() const noexcept {
    return name.empty() && max_retries == 0 && !retry_if && resources.empty() && !timeout &&
           retry_backoff.initial.count() == 0;
  }

  // Retries on exceptions of type E (or derived) only.
  template <class E>
  static std::function<bool(const std::exception_ptr&)> retry_on() {
    return [](const std::exception_ptr& error) {
      try {
        std::rethrow_exception(error);
      } catch (const E&) {
        return true;
      } catch (...) {
        return false;
      }
    };
  }
};

}  // namespace fray
