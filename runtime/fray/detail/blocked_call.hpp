// What a blocking call (get, wait, next_blocking inside a task) sets up on
// any executor for as long as it is blocked: a wake-up on its task's cancel,
// and the task's cpu lent to the admission line.
#pragma once

#include <span>

#include "fray/detail/shared_state.hpp"
#include "fray/detail/signal.hpp"
#include "fray/detail/suspension.hpp"

namespace fray::detail {

// Wakes the blocked call when its task is cancelled (the call then throws
// TaskCancelled): a blocking get is a cancellation point too. `waits` is
// what the call waits for, for a thread that helps it.
class CancelWake : CancelHook {
 public:
  CancelWake(StateBase* task, Signal& signal, std::span<StateBase* const> waits) noexcept
      : task_(task), signal_(signal) {
    waits_on = waits;
    on_cancel = [](CancelHook* self) noexcept { static_cast<CancelWake*>(self)->signal_.poke(); };
    armed_ = task_ == nullptr || task_->set_cancel_hook(this);
  }
  CancelWake(const CancelWake&) = delete;
  ~CancelWake() {
    if (task_ != nullptr && armed_) task_->clear_cancel_hook();
  }
  // False if the task was cancelled already: the caller throws at once.
  bool armed() const noexcept { return armed_; }
  bool cancelled() const noexcept { return task_ != nullptr && task_->cancel_requested(); }

 private:
  StateBase* task_;
  Signal& signal_;
  bool armed_ = false;
};

// Lends the running task's cpu (if `lease`) for the length of a blocking call.
class LentCpu {
 public:
  explicit LentCpu(ResourceLease* lease) noexcept : lease_(lease) {
    if (lease_ != nullptr) lease_->lend();
  }
  LentCpu(const LentCpu&) = delete;
  ~LentCpu() {
    if (lease_ != nullptr) lease_->reclaim_blocking();
  }

 private:
  ResourceLease* lease_;
};

}  // namespace fray::detail
