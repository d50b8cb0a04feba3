// What every coroutine frame of one task shares: the executor it resumes on
// and the task's state, which cancel() flags. A child Task awaited inline
// inherits its parent's.
#pragma once

#include <concepts>
#include <coroutine>

#include "fray/detail/shared_state.hpp"

namespace fray::detail {

struct FrameContext {
  Executor* executor = nullptr;
  StateBase* task_state = nullptr;

  // Before suspending: says what cancel() should interrupt. False if the
  // task is already cancelled (then do not suspend).
  bool begin_suspend(CancelHook* hook) const noexcept {
    return task_state == nullptr || task_state->set_cancel_hook(hook);
  }
  // Registers the coroutine's wake-up through `enqueue()` (true: registered,
  // so suspend) with `hook` as what cancel() interrupts, atomically with
  // respect to cancel(). False, without calling `enqueue`, if the task is
  // already cancelled. After true, touch nothing of the frame: another
  // thread may be resuming it already. `enqueue` must not throw.
  template <class Enqueue>
  bool suspend_on(CancelHook* hook, Enqueue&& enqueue) const noexcept {
    if (task_state == nullptr) return enqueue();
    return task_state->suspend_with_cancel_hook(hook, enqueue);
  }
  void end_suspend() const noexcept {
    if (task_state != nullptr) task_state->clear_cancel_hook();
  }
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

// Resumes a suspended coroutine through its executor (never inline, so a
// long chain of completions cannot grow the stack).
struct Resumption : Work {
  std::coroutine_handle<> handle;
  Executor* executor = nullptr;

  Resumption() {
    run_work = [](Work* self) noexcept { static_cast<Resumption*>(self)->handle.resume(); };
  }
  void schedule() noexcept {
    if (executor != nullptr) {
      executor->post(this);
    } else {
      handle.resume();
    }
  }
};

}  // namespace fray::detail
