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
  // An atomic exchange, as glibc's mutex releases, not a plain store: the
  // inline executor takes this lock three times per task, and a plain
  // store followed at once by the next lock's exchange cost more. A tight
  // sync run + get loop, 16 interleaved rounds, best of round medians, AMD
  // EPYC family 25 (2026-12-08): 58 ns, against 63 ns with a plain store
  // and 77-80 ns with a std::mutex in the executor, which had been the
  // fastest on the EPYC of 2026-12-04 (40 ns against 52 with the store).
  void unlock() noexcept { (void)locked_.exchange(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace fray::detail
