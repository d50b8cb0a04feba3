// The state a future shares with the task that fulfils it: a reference
// count, a status word, the result, and the list of whoever waits for it.
// Tasks derive from it, so a task, its queue node and its result are one
// allocation.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "fray/detail/spin_lock.hpp"
#include "fray/errors.hpp"
#include "fray/executor.hpp"

namespace fray::detail {

// Stands in for void so every state can hold "a value".
struct Unit {};

template <class T>
using stored_t = std::conditional_t<std::is_void_v<T>, Unit, T>;

// Someone waiting for a state to complete. `on_ready` runs once, on the
// completing thread, after the result is visible; it must not block, and the
// state must not touch the waiter after calling it.
struct Waiter {
  Waiter* next_waiter = nullptr;
  void (*on_ready)(Waiter*) noexcept = nullptr;
};

// Something a suspended coroutine task is waiting on, which cancel() must
// interrupt (a future it awaits, a timer, a stream). Called with the task's
// state locked.
struct CancelHook {
  void (*on_cancel)(CancelHook*) noexcept = nullptr;
};

enum class Status : std::uint8_t { pending, running, value, error };

class StateBase {
 public:
  StateBase(const StateBase&) = delete;
  StateBase& operator=(const StateBase&) = delete;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  std::uint32_t ref_count() const noexcept { return refs_.load(std::memory_order_acquire); }

  Status status() const noexcept { return status_.load(std::memory_order_acquire); }
  bool is_ready() const noexcept { return status() >= Status::value; }
  bool has_error() const noexcept { return status() == Status::error; }
  // Only meaningful once has_error().
  const std::exception_ptr& error() const noexcept { return error_; }
  void rethrow_if_error() const {
    if (has_error()) std::rethrow_exception(error_);
  }

  // Where the task behind this state runs, for blocking callers that must
  // drain an inline executor; null for states no task fulfils.
  Executor* home() const noexcept { return home_; }
  void set_home(Executor* executor) noexcept { home_ = executor; }

  // pending -> running. False if the task was cancelled (or already started).
  bool try_start() noexcept {
    auto expected = Status::pending;
    return status_.compare_exchange_strong(expected, Status::running, std::memory_order_acq_rel);
  }
  // running -> pending, for a task that goes back to a queue to be retried.
  void mark_pending_again() noexcept { status_.store(Status::pending, std::memory_order_release); }

  void complete_with_error(std::exception_ptr error) noexcept {
    error_ = std::move(error);
    publish(Status::error);
  }

  // Registers `waiter` unless the state is already complete (then false:
  // the caller proceeds at once and the waiter is never called).
  bool add_waiter(Waiter* waiter) noexcept {
    std::lock_guard guard(lock_);
    if (is_ready()) return false;
    waiter->next_waiter = waiters_;
    waiters_ = waiter;
    return true;
  }
  // True if `waiter` was still registered and is now removed (so it will
  // never be called); false if completion already took it.
  bool remove_waiter(Waiter* waiter) noexcept {
    std::lock_guard guard(lock_);
    for (Waiter** link = &waiters_; *link != nullptr; link = &(*link)->next_waiter) {
      if (*link == waiter) {
        *link = waiter->next_waiter;
        return true;
      }
    }
    return false;
  }

  bool cancel_requested() const noexcept { return cancel_requested_.load(std::memory_order_acquire); }

  // Ray's cancel: a task that has not started completes now with
  // TaskCancelled and never runs (returns true). A running one is flagged,
  // and whatever it is suspended on is interrupted.
  bool request_cancel() noexcept {
    auto expected = Status::pending;
    if (status_.compare_exchange_strong(expected, Status::running, std::memory_order_acq_rel)) {
      cancel_requested_.store(true, std::memory_order_release);
      complete_with_error(std::make_exception_ptr(TaskCancelled()));
      on_cancelled_before_start();
      return true;
    }
    std::lock_guard guard(lock_);
    cancel_requested_.store(true, std::memory_order_release);
    if (cancel_hook_ != nullptr) cancel_hook_->on_cancel(cancel_hook_);
    return false;
  }
  // A suspended coroutine task says what cancel() should interrupt. False if
  // cancellation was already requested (the caller must not suspend).
  bool set_cancel_hook(CancelHook* hook) noexcept {
    std::lock_guard guard(lock_);
    if (cancel_requested()) return false;
    cancel_hook_ = hook;
    return true;
  }
  // Suspends a coroutine of this task on something else: `enqueue()`
  // registers its wake-up there (false: no need to suspend). Done under this
  // state's lock, installing `hook`, so that cancel() either comes first
  // (false, and `enqueue` is not called) or finds the wake-up registered and
  // interrupts it. The suspending frame is not touched once another thread
  // may resume it: a re-check after registering would race with that.
  template <class Enqueue>
  bool suspend_with_cancel_hook(CancelHook* hook, Enqueue& enqueue) noexcept {
    std::lock_guard guard(lock_);
    if (cancel_requested()) return false;
    if (!enqueue()) return false;
    cancel_hook_ = hook;
    return true;
  }
  void clear_cancel_hook() noexcept {
    std::lock_guard guard(lock_);
    cancel_hook_ = nullptr;
  }

 protected:
  explicit StateBase(std::uint32_t refs) noexcept : refs_(refs) {}
  virtual ~StateBase() = default;

  // Lets a queued task give up its place (e.g. in the admission line).
  virtual void on_cancelled_before_start() noexcept {}

  // Makes the result visible and wakes every waiter, each exactly once.
  void publish(Status final_status) noexcept {
    Waiter* waiting;
    {
      std::lock_guard guard(lock_);
      status_.store(final_status, std::memory_order_release);
      waiting = waiters_;
      waiters_ = nullptr;
    }
    while (waiting != nullptr) {
      Waiter* next = waiting->next_waiter;
      waiting->on_ready(waiting);
      waiting = next;
    }
  }

 private:
  std::atomic<std::uint32_t> refs_;
  std::atomic<Status> status_{Status::pending};
  std::atomic<bool> cancel_requested_{false};
  SpinLock lock_;
  Waiter* waiters_ = nullptr;
  CancelHook* cancel_hook_ = nullptr;
  Executor* home_ = nullptr;
  std::exception_ptr error_;
};

template <class T>
class SharedState : public StateBase {
 public:
  using value_type = stored_t<T>;

  // A state with `refs` owners, e.g. one future and one producer.
  explicit SharedState(std::uint32_t refs = 1) noexcept : StateBase(refs) {}

  template <class... U>
  void set_value(U&&... value) noexcept(std::is_nothrow_constructible_v<value_type, U...>) {
    value_.emplace(std::forward<U>(value)...);
    publish(Status::value);
  }
  // Only after is_ready() and !has_error().
  const value_type& value() const noexcept { return *value_; }
  value_type& mutable_value() noexcept { return *value_; }

 private:
  std::optional<value_type> value_;
};

}  // namespace fray::detail
