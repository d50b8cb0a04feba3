// co_await ctx.sleep(d): suspends a coroutine task without holding a thread.
// sleep(0) yields: the coroutine goes to the back of its executor's queue.
// Both are cancellation points. A sleeping task keeps its resources.
#pragma once

#include <chrono>
#include <coroutine>
#include <atomic>
#include <memory>

#include "fray/detail/suspension.hpp"
#include "fray/detail/timer_service.hpp"

namespace fray::detail {

class SleepAwaiter : Suspension {
 public:
  SleepAwaiter(TimerService& timers, std::chrono::nanoseconds duration) noexcept
      : timers_(timers), duration_(duration) {}
  SleepAwaiter(const SleepAwaiter&) = delete;

  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> handle) {
    prepare(handle);
    if (duration_.count() <= 0) {
      if (frame() == nullptr || frame()->executor == nullptr) return false;  // nothing to yield to
      on_cancel = [](CancelHook*) noexcept {};  // the wake-up is already on its way
      return suspend([this]() noexcept {
        wake();
        return true;
      }, /*lends=*/false);
    }
    // The timer fires exactly once: at the deadline, or early when
    // cancel() cancels it; either way it is the one wake-up.
    on_cancel = [](CancelHook* self) noexcept { static_cast<SleepAwaiter*>(self)->timer_->cancel(); };
    // The timer's wake-up waits for the end of this setup (two steps), so
    // a timer that fires at once cannot resume us while we still write here.
    auto gate = std::make_shared<Gate>(this);
    const bool suspended = suspend([this, &gate]() noexcept {
      try {
        timer_ = timers_.start_timer(Clock::now() + duration_, [gate](bool) { gate->step(); });
      } catch (...) {
        return false;  // no timer (out of memory): the sleep ends early
      }
      return true;
    }, /*lends=*/false);
    if (suspended) gate->step();  // touches the gate only, not the frame
    return suspended;
  }
  void await_resume() const { resume_checked(); }

 private:
  struct Gate {
    explicit Gate(SleepAwaiter* a) noexcept : awaiter(a) {}
    void step() noexcept {
      if (steps.fetch_sub(1, std::memory_order_acq_rel) == 1) awaiter->wake();
    }
    SleepAwaiter* awaiter;
    std::atomic<int> steps{2};
  };

  TimerService& timers_;
  std::chrono::nanoseconds duration_;
  std::shared_ptr<TimerService::Timer> timer_;
};

}  // namespace fray::detail
