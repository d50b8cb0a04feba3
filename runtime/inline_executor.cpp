#include "fray/detail/inline_executor.hpp"

#include <utility>

#include "fray/detail/task_host.hpp"

namespace fray::detail {

void InlineExecutor::post(Work* work) noexcept {
  work->next_work = nullptr;
  std::lock_guard guard(mutex_);
  if (tail_ != nullptr) {
    tail_->next_work = work;
  } else {
    head_ = work;
  }
  tail_ = work;
  // Poked under our lock: the parked thread clears `parked_` under it too,
  // so the signal cannot go away in between.
  if (parked_ != nullptr) parked_->poke();
}

Work* InlineExecutor::pop() noexcept {
  std::lock_guard guard(mutex_);
  Work* work = head_;
  if (work != nullptr) {
    head_ = work->next_work;
    if (head_ == nullptr) tail_ = nullptr;
  }
  return work;
}

void InlineExecutor::run(Work* work) noexcept {
  // Work run here may block on another result of this executor: that
  // blocking call drains too.
  BlockingHelper*& helper = current_blocking_helper();
  JobContext*& context = thread_context();
  BlockingHelper* outer_helper = std::exchange(helper, this);
  JobContext* outer_context = std::exchange(context, context_);
  work->run();
  helper = outer_helper;
  context = outer_context;
}

bool InlineExecutor::run_one_queued() noexcept {
  Work* work = pop();
  if (work == nullptr) return false;
  run(work);
  return true;
}

void InlineExecutor::drain() noexcept {
  while (run_one_queued()) {
  }
}

bool InlineExecutor::help_until(Signal& signal, const Deadline& deadline) {
  for (;;) {
    if (signal.is_set()) return true;
    if (run_one_queued()) continue;
    {
      std::lock_guard guard(mutex_);
      if (head_ != nullptr) continue;
      parked_ = &signal;
    }
    const bool set = signal.wait_until_set_or_poked(deadline);
    {
      std::lock_guard guard(mutex_);
      parked_ = nullptr;
    }
    if (set) return true;
    if (deadline && Clock::now() >= *deadline) return signal.is_set();
  }
}

}  // namespace fray::detail
