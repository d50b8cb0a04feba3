// A one-byte lock for sections a few instructions long (a future's waiter
// list). A std::mutex would be 40 bytes per task for no gain.
#pragma once

#include <atomic>
#include <thread>

#include "fray/detail/cpu_relax.hpp"

namespace fray::detail {

class SpinLock {
 public:
  void lock() noexcept {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire); ++spins) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (spins++ < 64) {
          cpu_relax();
        } else {
          std::this_thread::yield();  // the holder was preempted
        }
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 protected:
  std::atomic<bool> locked_{false};
};

// The same lock, released with an atomic exchange (as glibc's mutex is)
// instead of a store, for a lock that one thread takes again at once, over
// and over: the inline executor's, three times per task. Measured on a
// tight sync run + get loop: on one AMD EPYC (2026-12-04) glibc's mutex
// beat the store-released SpinLock by 12 ns a round trip, on another
// (family 25, 2026-12-07) the SpinLock beat the mutex by 18 ns; this one
// was as fast as the SpinLock there (61 against 62 ns at best, the mutex 80).
class ExchangeReleasedSpinLock : public SpinLock {
 public:
  void unlock() noexcept { (void)locked_.exchange(false, std::memory_order_release); }
};

}  // namespace fray::detail
