#pragma once

#include <chrono>

#include "fray/detail/cpu_relax.hpp"

namespace fray::detail {

// Long enough to cover a round trip to a warm pool thread, short enough
// that a long wait costs almost nothing extra.
inline constexpr auto kBlockingSpin = std::chrono::microseconds(30);

template <class Done>
bool spin_briefly(Done&& done) {
  if (done()) return true;
  const auto until = Clock::now() + kBlockingSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (Clock::now() >= until) return done();
  }
}

}  // namespace fray::detail
