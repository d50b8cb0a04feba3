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

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace fray::detail
