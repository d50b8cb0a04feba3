// co_await of a wait over several states: ctx.wait_async, when_all,
// when_any. Suspends until the wait group fires (enough ready, the timeout,
// or cancel()); the task lends its cpu meanwhile.
#pragma once

#include <chrono>
#include <coroutine>
#include <memory>
#include <optional>
#include <vector>

#include "fray/detail/suspension.hpp"
#include "fray/detail/timer_service.hpp"
#include "fray/detail/wait_group.hpp"

namespace fray::detail {

class WaitGroupAwaiter : protected Suspension {
 public:
  // Null entries in `states` are always ready (object refs).
  WaitGroupAwaiter(std::vector<StateBase*> states, std::size_t needed, std::optional<std::chrono::nanoseconds> timeout,
                   TimerService* timers)
      : states_(std::move(states)), needed_(std::min(needed, states_.size())), timeout_(timeout), timers_(timers) {
    for (StateBase* state : states_) {
      if (state != nullptr) state->add_ref();
    }
  }
  WaitGroupAwaiter(const WaitGroupAwaiter&) = delete;
  ~WaitGroupAwaiter() {
    for (StateBase* state : states_) {
      if (state != nullptr) state->release();
    }
  }

  bool await_ready() const noexcept {
    if (current_task_cancelled()) return false;
    std::size_t ready = 0;
    for (StateBase* state : states_) ready += (state == nullptr || state->is_ready()) ? 1 : 0;
    return ready >= needed_;
  }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> handle) {
    prepare(handle);
    waits_on = states_;
    group_ = std::make_shared<Group>(needed_, this);
    on_cancel = [](CancelHook* self) noexcept { static_cast<WaitGroupAwaiter*>(self)->group_->fire(); };
    group_->watch(states_);
    if (timeout_ && timers_ != nullptr) {
      timer_ = timers_->start_timer(Clock::now() + *timeout_, [group = group_](bool expired) {
        if (expired) group->fire();
      });
    }
    // The group fires at most once, and only then wakes us; until setup is
    // done it cannot (the guard below holds it back).
    return suspend([this]() noexcept { return group_->release_guard(); }, /*lends=*/true);
  }

 protected:
  // In the derived await_resume, before reading the states.
  void end_wait() {
    if (group_) {
      group_->unwatch();
      if (timer_) timer_->cancel();
    }
    resume_checked();
  }

  std::vector<StateBase*> states_;

 private:
  // Fires once; wakes the awaiter only after await_suspend let it (the
  // guard), and not at all when setup found it fired already.
  struct Group : WaitGroup {
    Group(std::size_t needed, WaitGroupAwaiter* owner)
        : WaitGroup(needed, [](WaitGroup* self) noexcept { static_cast<Group*>(self)->step(); }), awaiter(owner) {}
    void step() noexcept {
      if (steps.fetch_sub(1, std::memory_order_acq_rel) == 1) awaiter->wake();
    }
    // True: the awaiter must suspend (the wake-up will come); false: it fired already.
    bool release_guard() noexcept {
      if (steps.fetch_sub(1, std::memory_order_acq_rel) == 1) return false;
      return true;
    }
    WaitGroupAwaiter* awaiter;
    std::atomic<int> steps{2};
  };

  std::size_t needed_;
  std::optional<std::chrono::nanoseconds> timeout_;
  TimerService* timers_;
  std::shared_ptr<Group> group_;
  std::shared_ptr<TimerService::Timer> timer_;
};

}  // namespace fray::detail
