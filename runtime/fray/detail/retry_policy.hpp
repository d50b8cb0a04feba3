// Whether a failed attempt runs again, and after how long (Ray's
// max_retries and retry_exceptions, plus a back-off).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>

#include "fray/errors.hpp"
#include "fray/task_options.hpp"

namespace fray::detail {

// True if another attempt may follow `attempts_done` failed ones.
inline bool attempts_left(const TaskOptions& options, int attempts_done) noexcept {
  return options.max_retries < 0 || attempts_done < options.max_retries;
}

// True if `error` (the latest attempt's) is worth another attempt.
inline bool retries_error(const TaskOptions& options, const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const TaskCancelled&) {
    return false;  // a cancel (or a timeout) is final
  } catch (...) {
  }
  return !options.retry_if || options.retry_if(error);
}

// The wait before attempt number `attempt` (1 for the first retry).
inline std::chrono::nanoseconds retry_delay(const TaskOptions& options, int attempt) noexcept {
  const RetryBackoff& backoff = options.retry_backoff;
  if (backoff.initial.count() <= 0) return std::chrono::nanoseconds(0);
  const double factor = std::pow(std::max(backoff.multiplier, 1.0), std::max(attempt - 1, 0));
  const double delay = std::min(static_cast<double>(backoff.initial.count()) * factor,
                                static_cast<double>(backoff.max.count()));
  return std::chrono::nanoseconds(static_cast<std::int64_t>(delay));
}

}  // namespace fray::detail
