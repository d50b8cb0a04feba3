// The one way a fray coroutine suspends and resumes. Every fray awaiter
// (futures, streams, sleep, wait, when_all/when_any, Python calls) follows
// it:
//   1. prepare(handle): note how to resume the coroutine, and as which task;
//   2. suspend(enqueue, lends): register the wake-up with `enqueue()`
//      atomically with respect to cancel(), optionally lending the task's
//      cpu (a task waiting on other work gives its cpu back, as Ray does);
//   3. whoever wins the wake-up (the event, cancel(), a timer) calls wake(),
//      exactly once: the resources are taken back, first in line, and the
//      coroutine is posted to its executor;
//   4. await_resume calls resume_checked(), which throws TaskCancelled if the
//      task was cancelled: every fray co_await is a cancellation point.
#pragma once

#include <concepts>
#include <coroutine>
#include <utility>

#include "fray/detail/shared_state.hpp"

namespace fray::detail {

// Resources a running task holds and lends back while it waits on other
// work. Implemented by the runtime (only tasks that asked for cpu have one).
class ResourceLease {
 public:
  // Gives the lendable part (the cpu) back.
  virtual void lend() noexcept = 0;
  // Takes it back at once if it is free, ahead of everyone waiting.
  virtual bool reclaim_now() noexcept = 0;
  // Takes it back first in line, then runs `resume` (posts it).
  virtual void reclaim_then(Work& resume) noexcept = 0;
  // From plain code: parks the calling thread until it is back.
  virtual void reclaim_blocking() noexcept = 0;

 protected:
  ~ResourceLease() = default;
};

// The task whose code runs on this thread: set while a plain task runs and
// while a coroutine of a task is resumed. this_task::cancel_requested(),
// blocking gets and new children read it.
struct TaskScope {
  StateBase* task = nullptr;
  ResourceLease* lease = nullptr;
};
inline thread_local TaskScope t_current_task_scope;
inline TaskScope& current_task_scope() noexcept { return t_current_task_scope; }
inline StateBase* current_task_state() noexcept { return current_task_scope().task; }
inline bool current_task_cancelled() noexcept {
  StateBase* task = current_task_state();
  return task != nullptr && task->cancel_requested();
}

class ScopedTask {
 public:
  ScopedTask(StateBase* task, ResourceLease* lease) noexcept
      : saved_(std::exchange(current_task_scope(), TaskScope{task, lease})) {}
  ScopedTask(const ScopedTask&) = delete;
  ~ScopedTask() { current_task_scope() = saved_; }

 private:
  TaskScope saved_;
};

// What every coroutine frame of one task shares: the executor it resumes
// on, the task's state (which cancel() flags) and its lease. A child Task
// awaited inline inherits its parent's.
struct FrameContext {
  Executor* executor = nullptr;
  StateBase* task_state = nullptr;
  ResourceLease* lease = nullptr;

  bool cancelled() const noexcept { return task_state != nullptr && task_state->cancel_requested(); }
  void throw_if_cancelled() const {
    if (cancelled()) throw TaskCancelled();
  }
};

template <class Promise>
concept HasFrameContext = requires(Promise& promise) {
  { promise.frame_context() } -> std::same_as<FrameContext&>;
};

// The frame context of the coroutine `handle`, or null for coroutines that
// are not fray tasks (they are resumed inline, without cancellation).
template <class Promise>
FrameContext* frame_context_of(std::coroutine_handle<Promise> handle) noexcept {
  if constexpr (HasFrameContext<Promise>) {
    return &handle.promise().frame_context();
  } else {
    return nullptr;
  }
}

// Resumes a suspended coroutine as the task it belongs to, through its
// executor (never inline: a long chain of completions cannot grow the stack).
struct Resumption : Work {
  std::coroutine_handle<> handle;
  const FrameContext* frame = nullptr;
  bool reclaim = false;  // resources were lent for this suspension

  Resumption() noexcept { run_work = &Resumption::resume_here; }
  void schedule() noexcept {
    if (reclaim) {
      reclaim = false;
      frame->lease->reclaim_then(*this);
      return;
    }
    post();
  }
  void post() noexcept {
    if (frame != nullptr && frame->executor != nullptr) {
      frame->executor->post(this);
    } else {
      handle.resume();
    }
  }
  // Also how the runtime starts a task's coroutine: as the task.
  static void resume_here(Work* work) noexcept {
    auto* self = static_cast<Resumption*>(work);
    const FrameContext* frame = self->frame;
    if (frame == nullptr) return self->handle.resume();
    ScopedTask scope(frame->task_state, frame->lease);
    self->handle.resume();  // may end the frame, and `self` with it
  }
};

// The base of every fray awaiter. Derived awaiters set `on_cancel` to what
// withdraws their wake-up and then calls wake().
class Suspension : protected CancelHook {
 protected:
  template <class Promise>
  void prepare(std::coroutine_handle<Promise> handle) noexcept {
    resumption_.handle = handle;
    resumption_.frame = frame_context_of(handle);
  }

  // Registers the wake-up through `enqueue()` (false: no need to wait) with
  // this awaiter as what cancel() interrupts, lending the task's cpu if
  // `lends`. True: suspended, and nothing of the frame may be touched any
  // more (another thread may be resuming it). `enqueue` must not throw.
  template <class Enqueue>
  bool suspend(Enqueue&& enqueue, bool lends) noexcept {
    const FrameContext* frame = resumption_.frame;
    if (frame == nullptr || frame->task_state == nullptr) return enqueue();
    ResourceLease* lease = lends ? frame->lease : nullptr;
    if (lease != nullptr) {
      // Before the wake-up can be seen: it takes the resources back.
      resumption_.reclaim = true;
      lease->lend();
    }
    if (frame->task_state->suspend_with_cancel_hook(this, enqueue)) return true;
    if (lease == nullptr) return false;
    // Lent for nothing: take them back, which may mean waiting in line.
    resumption_.reclaim = false;
    if (lease->reclaim_now()) return false;
    lease->reclaim_then(resumption_);
    return true;
  }

  // The one wake-up of this suspension.
  void wake() noexcept { resumption_.schedule(); }

  // In await_resume: ends the suspension; TaskCancelled if the task was cancelled.
  void resume_checked() const {
    const FrameContext* frame = resumption_.frame;
    if (frame == nullptr || frame->task_state == nullptr) return;
    frame->task_state->clear_cancel_hook();
    frame->throw_if_cancelled();
  }

  bool prepared() const noexcept { return resumption_.handle != nullptr; }
  const FrameContext* frame() const noexcept { return resumption_.frame; }

  Resumption resumption_;
};

}  // namespace fray::detail
