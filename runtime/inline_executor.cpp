#include "fray/detail/inline_executor.hpp"

#include <algorithm>
#include <utility>

#include "fray/detail/blocked_call.hpp"
#include "fray/detail/suspension.hpp"
#include "fray/detail/task_host.hpp"

namespace fray::detail {

void InlineExecutor::post(Work* work) noexcept {
  std::lock_guard guard(mutex_);
  continuations_.push_back(work);
  poke_parked();
}

void InlineExecutor::post_task(Work* work) noexcept {
  std::lock_guard guard(mutex_);
  tasks_.push_back(work);
  poke_parked();
}

void InlineExecutor::poke_all_parked() noexcept {
  for (Signal* signal : parked_) signal->poke();
}

Work* InlineExecutor::pop_locked(bool tasks_too) noexcept {
  if (Work* work = continuations_.pop_front()) return work;
  return tasks_too ? tasks_.pop_front() : nullptr;
}

Work* InlineExecutor::pop(bool tasks_too) noexcept {
  std::lock_guard guard(mutex_);
  return pop_locked(tasks_too);
}

void InlineExecutor::run(Work* work) noexcept {
  // Work run here may block on another result: that call comes back to
  // this executor as its blocker.
  ScopedBlocker blocker(this);
  JobContext*& context = thread_context();
  JobContext* outer_context = std::exchange(context, context_);
  work->run();
  context = outer_context;
}

void InlineExecutor::park_until_poked(Signal& signal, const Deadline& deadline) {
  {
    std::lock_guard guard(mutex_);
    if (!continuations_.empty() || (!tasks_.empty() && driver_ == std::thread::id{})) return;
    parked_.push_back(&signal);
  }
  signal.wait_until_set_or_poked(deadline);
  std::lock_guard guard(mutex_);
  std::erase(parked_, &signal);
}

bool InlineExecutor::acquire_drive(Signal& signal, const Deadline& deadline) {
  const auto me = std::this_thread::get_id();
  for (;;) {
    {
      std::lock_guard guard(mutex_);
      if (driver_ == std::thread::id{} || driver_ == me) {
        driver_ = me;
        ++drive_depth_;
        return true;
      }
      // Another thread drives: it may well run what we wait for.
      if (signal.is_set()) return false;
      parked_.push_back(&signal);
    }
    signal.wait_until_set_or_poked(deadline);
    {
      std::lock_guard guard(mutex_);
      std::erase(parked_, &signal);
    }
    if (signal.is_set() || (deadline && Clock::now() >= *deadline)) return false;
  }
}

void InlineExecutor::release_drive() noexcept {
  std::lock_guard guard(mutex_);
  if (--drive_depth_ == 0) {
    driver_ = std::thread::id{};
    poke_parked();  // a waiting driver takes over
  }
}

bool InlineExecutor::drive_while_queued(bool (*done)(const void*), const void* context) {
  Work* work;
  {
    // Only when nobody else drives: else the caller waits with a signal.
    std::lock_guard guard(mutex_);
    const auto me = std::this_thread::get_id();
    if (driver_ != std::thread::id{} && driver_ != me) return done(context);
    work = pop_locked(/*tasks_too=*/true);
    if (work == nullptr) return done(context);
    driver_ = me;
    ++drive_depth_;
  }
  bool finished = false;
  while (work != nullptr) {
    run(work);
    if ((finished = done(context))) break;
    work = pop(/*tasks_too=*/true);
  }
  release_drive();
  return finished;
}

bool InlineExecutor::drive_until(Signal& signal, const Deadline& deadline) {
  if (!acquire_drive(signal, deadline)) return signal.is_set();
  while (!signal.is_set()) {
    if (Work* work = pop(/*tasks_too=*/true)) {
      run(work);
      continue;
    }
    if (deadline && Clock::now() >= *deadline) break;
    // Nothing queued: another thread (a timer, a process) will post.
    park_until_poked(signal, deadline);
  }
  release_drive();
  return signal.is_set();
}

bool InlineExecutor::block(const BlockRequest& request) {
  Signal& signal = request.signal;
  const TaskScope scope = current_task_scope();
  StateBase* const task = request.cancellable ? scope.task : nullptr;
  CancelWake cancel(task, signal, request.helpable);
  if (!cancel.armed()) return false;
  LentCpu lent(request.lends ? scope.lease : nullptr);
  if (task != nullptr) enlist_blocked(*task);
  bool set = signal.is_set();
  while (!set && !cancel.cancelled()) {
    // The task waited for (and the tasks it waits for) if queued: only
    // without a deadline, which a task run here could outlast.
    bool ran = false;
    if (!request.deadline) {
      for (StateBase* state : request.helpable) {
        if (state != nullptr && !state->is_ready()) ran = state->run_here(*this, 0) || ran;
        if (signal.is_set()) break;
      }
    }
    if ((set = signal.is_set())) break;
    if (Work* work = pop(/*tasks_too=*/false)) {
      run(work);
      continue;
    }
    if (ran) continue;
    if (request.deadline && Clock::now() >= *request.deadline) break;
    park_until_poked(signal, request.deadline);
    set = signal.is_set();
  }
  if (task != nullptr) delist_blocked(*task);
  return set;
}

void InlineExecutor::enlist_blocked(StateBase& task) {
  std::optional<CancelReason> late_cancel;
  {
    std::lock_guard guard(mutex_);
    blocked_tasks_.push_back(&task);
    late_cancel = cancel_blocked_;
  }
  // Shutdown looked before this task blocked: it cancels itself.
  if (late_cancel) task.request_cancel(*late_cancel);
}

void InlineExecutor::delist_blocked(StateBase& task) noexcept {
  std::lock_guard guard(mutex_);
  std::erase(blocked_tasks_, &task);
}

void InlineExecutor::cancel_blocked_tasks(CancelReason reason) noexcept {
  std::vector<StateBase*> blocked;
  {
    // Under the lock, every listed task is still blocked, so still alive.
    std::lock_guard guard(mutex_);
    cancel_blocked_ = reason;
    for (StateBase* task : blocked_tasks_) {
      task->add_ref();
      blocked.push_back(task);
    }
  }
  cancel_pinned(blocked, reason);
}

void InlineExecutor::drain() noexcept {
  while (Work* work = pop(/*tasks_too=*/true)) run(work);
}

}  // namespace fray::detail
