// A one-shot wake-up for a thread that blocks (a blocking get or wait).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace fray::detail {

using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;

// The waker lets go of the mutex before it wakes the waiter, so the waiter
// does not wake only to block on the mutex the waker still holds (two
// extra context switches per wake-up). `wakers_` then tells a waiter that
// saw the signal set that a waker still touches it: settle() and the
// destructor wait for the wakers to finish.
class Signal {
 public:
  Signal() = default;
  Signal(const Signal&) = delete;
  ~Signal() { settle(); }

  void notify() noexcept {
    {
      std::lock_guard guard(mutex_);
      wakers_.fetch_add(1, std::memory_order_relaxed);
      set_.store(true, std::memory_order_release);  // whoever sees it set sees wakers_ > 0 too
    }
    wake_.notify_all();
    wakers_.fetch_sub(1, std::memory_order_release);  // the last touch
  }
  bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }
  // After seeing is_set() without the lock (a spin), wait for notify() to
  // let go of the signal, so it can be destroyed safely.
  void settle() noexcept {
    while (wakers_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }
  // Wakes a wait_until_set_or_poked() without setting the signal (new work
  // arrived for a thread that drains a queue while it waits).
  void poke() noexcept {
    {
      std::lock_guard guard(mutex_);
      wakers_.fetch_add(1, std::memory_order_relaxed);
      poked_ = true;
    }
    wake_.notify_all();
    wakers_.fetch_sub(1, std::memory_order_release);
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
  std::atomic<int> wakers_{0};  // notify() and poke() calls between their lock and their last touch
  bool poked_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace fray::detail
