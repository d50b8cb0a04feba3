// The longest duration fray waits for: 100 years. A timeout, grace period or
// age at or past it means "never": fray then sets no deadline at all, so
// that now() + std::chrono::hours::max() can never overflow into the past
// and fire at once. A negative one is a mistake (InvalidOptions).
#pragma once

#include <chrono>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "fray/errors.hpp"

namespace fray {

// 100 years of 365.25 days.
inline constexpr std::chrono::seconds never_duration{3'155'760'000};

// `d` is at or past never_duration (compared in floating point, so any
// duration type, hours::max() included, compares without overflow).
template <class Rep, class Period>
constexpr bool is_never(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration<double>(d) >= std::chrono::duration<double>(never_duration);
}

// `d` as To, saturated at +-never_duration: what a deadline may add to now().
template <class To, class Rep, class Period>
constexpr To clamp_duration(std::chrono::duration<Rep, Period> d) {
  if constexpr (std::is_floating_point_v<Rep>) {
    // NaN compares false with everything: it would pass both checks below
    // and reach duration_cast, whose conversion of NaN is undefined.
    if (d.count() != d.count()) throw InvalidOptions("a duration that is not a number (NaN)");
  }
  if (is_never(d)) return std::chrono::duration_cast<To>(never_duration);
  if (is_never(-std::chrono::duration<double>(d))) return -std::chrono::duration_cast<To>(never_duration);
  return std::chrono::duration_cast<To>(d);
}

// Throws InvalidOptions naming `what` (a field, e.g. "RunOptions::timeout")
// when `d` is negative.
template <class Rep, class Period>
void check_not_negative(std::chrono::duration<Rep, Period> d, std::string_view what) {
  if (d < std::chrono::duration<Rep, Period>::zero()) {
    throw InvalidOptions(fmt::format("{} is negative ({}); give a positive duration (100 years or more means never)",
                                     what, std::chrono::duration<double>(d).count()));
  }
}

}  // namespace fray
