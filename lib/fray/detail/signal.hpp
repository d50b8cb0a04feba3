// A one-shot wake-up for a thread that blocks (a blocking get or wait).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

namespace fray::detail {

using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;

class Signal {
 public:
  void notify() noexcept {
    std::lock_guard guard(mutex_);
    set_.store(true, std::memory_order_release);
    wake_.notify_all();
  }
  bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }
  // After seeing is_set() without the lock (a spin), wait for notify() to
  // let go of the mutex, so the signal can be destroyed safely.
  void settle() noexcept { std::lock_guard guard(mutex_); }
  // Wakes a wait_until_set_or_poked() without setting the signal (new work
  // arrived for a thread that drains a queue while it waits).
  void poke() noexcept {
    std::lock_guard guard(mutex_);
    poked_ = true;
    wake_.notify_all();
  }
  // Parks until notified, poked or the deadline; true if notified.
  bool wait_until_set_or_poked(const Deadline& deadline) {
    std::unique_lock lock(mutex_);
    auto woken = [this] { return poked_ || set_.load(std::memory_order_acquire); };
    if (!deadline) {
      wake_.wait(lock, woken);
    } else {
      wake_.wait_until(lock, *deadline, woken);
    }
    poked_ = false;
    return set_.load(std::memory_order_acquire);
  }

  // Parks until notified or the deadline; true if notified.
  bool wait_until(const Deadline& deadline) {
    std::unique_lock lock(mutex_);
    auto notified = [this] { return set_.load(std::memory_order_acquire); };
    if (!deadline) {
      wake_.wait(lock, notified);
      return true;
    }
    return wake_.wait_until(lock, *deadline, notified);
  }

 private:
  std::atomic<bool> set_{false};
  bool poked_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace fray::detail
