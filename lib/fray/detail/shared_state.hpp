// The state a future shares with whoever fulfils it: a reference count, a
// status word, the result, the list of whoever waits for it, and what
// cancel() must reach (the suspension of a running coroutine, the children
// a task started). Tasks derive from it, so a task, its queue node and its
// result are one allocation.
//
// Status, in the order a task moves through it:
//   pending    waits for its argument futures or its resources
//   queued     in an executor's queue: whoever claims it runs it
//   running    claimed (by a queue's popper, or a thread blocked on it)
//   completing one completion won; the result is being written
//   value | error
// A state fulfilled from outside (a Promise, a process, a Python call)
// starts `running`.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <vector>

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

class StateBase;

// What a suspended coroutine (or a thread blocked in get) is waiting on,
// which cancel() must interrupt (a future it awaits, a timer, a stream).
// `on_cancel` is called with the task's state locked: it must only
// withdraw and schedule, never block. `waits_on` are the states whose
// completion it waits for, so that a thread blocked on this task can help
// them (run them itself if they are queued).
struct CancelHook {
  void (*on_cancel)(CancelHook*) noexcept = nullptr;
  std::span<StateBase* const> waits_on{};
};

enum class Status : std::uint8_t { pending, queued, running, completing, value, error };

// Why cancel() was asked for: what the task's future reports.
enum class CancelReason : std::uint8_t { none, user, timeout, shutdown };

// cancel(recursive): whether the children the task started go with it.
enum class CancelScope : std::uint8_t { with_children, task_only };

class StateBase {
 public:
  StateBase(const StateBase&) = delete;
  StateBase& operator=(const StateBase&) = delete;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release(std::uint32_t count = 1) noexcept {
    // Holding every reference, nobody else can add one: no atomic write
    // (and no barrier) is needed. The common case for a future whose task
    // is done.
    if (refs_.load(std::memory_order_acquire) == count || refs_.fetch_sub(count, std::memory_order_acq_rel) == count) {
      delete this;
    }
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

  // Where the task behind this state runs, for a blocking caller that must
  // drive an inline executor; null for states no task fulfils. Followed only
  // while the state is not complete: a runtime completes every task's state
  // before its executors go away.
  virtual Executor* home() const noexcept { return nullptr; }

  // ---- Moving through the statuses ----------------------------------------
  // pending -> queued, just before the task is posted. False if cancelled.
  bool mark_queued() noexcept { return advance(Status::pending, Status::queued); }
  // The same for a task nobody else can reach yet (no cancel can race it):
  // a plain store, published by the queue's lock.
  void mark_queued_unshared() noexcept { status_.store(Status::queued, std::memory_order_relaxed); }
  // queued -> running: the caller won the right to run the task.
  bool try_claim() noexcept { return advance(Status::queued, Status::running); }
  // pending|queued -> running, for states fulfilled from outside.
  bool try_start() noexcept {
    Status seen = status_.load(std::memory_order_acquire);
    while (seen <= Status::queued) {
      if (status_.compare_exchange_weak(seen, Status::running, std::memory_order_acq_rel)) return true;
    }
    return false;
  }

  // Completes with `error` unless the state completed already (then false).
  bool complete_with_error(std::exception_ptr error) noexcept {
    if (!begin_completion()) return false;
    publish_error(std::move(error));
    return true;
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

  // ---- Cancellation -------------------------------------------------------
  bool cancel_requested() const noexcept { return (cancel_.load(std::memory_order_acquire) & kRequested) != 0; }
  CancelReason cancel_reason() const noexcept {
    return static_cast<CancelReason>(cancel_.load(std::memory_order_acquire) >> kReasonShift);
  }

  // Ray's cancel: a task that has not started completes now with
  // TaskCancelled and never runs (returns true). A running one is flagged,
  // and whatever it is suspended on is interrupted. With `with_children`,
  // the tasks it started are cancelled too, and theirs, recursively.
  bool request_cancel(CancelReason reason = CancelReason::user,
                      CancelScope scope = CancelScope::with_children) noexcept {
    std::stop_source children{std::nostopstate};
    bool before_start = false;
    bool pinned = false;
    Status seen;
    {
      std::lock_guard guard(lock_);
      seen = status_.load(std::memory_order_acquire);
      if (seen >= Status::completing) return false;
      if (!cancel_requested()) {
        cancel_.fetch_or(static_cast<std::uint8_t>(kRequested | (static_cast<std::uint8_t>(reason) << kReasonShift)),
                         std::memory_order_acq_rel);
      }
      // mark_queued and try_claim race with us without the lock. Pinned
      // before the status says "completing": from then on the owner of the
      // task's stage may retire it and drop its references.
      while (seen <= Status::queued && !before_start) {
        if (!pinned) pinned = (add_ref(), true);
        before_start = status_.compare_exchange_weak(seen, Status::completing, std::memory_order_acq_rel);
      }
      if (!before_start && cancel_hook_ != nullptr) cancel_hook_->on_cancel(cancel_hook_);
      if (scope == CancelScope::with_children) {
        cancel_.fetch_or(kWithChildren, std::memory_order_acq_rel);
        children = children_;
      }
    }
    if (children.stop_possible()) children.request_stop();
    if (before_start) cancelled_before_start(seen);
    if (pinned) release();  // outside the lock: it may be the last reference
    return before_start;
  }

  // For a task that starts a child: a token stopped when this task is
  // cancelled with its children (already stopped if it was).
  std::stop_token children_token() {
    // Only the task's own code starts its children, so only this thread
    // writes children_: it may look without the lock, and allocates outside it.
    std::stop_source fresh{std::nostopstate};
    if (!children_.stop_possible()) fresh = std::stop_source();
    std::stop_source source{std::nostopstate};
    bool stop_now = false;
    {
      std::lock_guard guard(lock_);
      if (!children_.stop_possible()) children_.swap(fresh);
      stop_now = (cancel_.load(std::memory_order_acquire) & kWithChildren) != 0;
      source = children_;
    }
    // Cancelled before its first child: that child starts cancelled.
    if (stop_now) source.request_stop();
    return source.get_token();
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

  // ---- What a blocked thread may do ----------------------------------------
  // Runs the task behind this state on the calling thread if it is queued
  // to run on `executor`, after helping (up to `depth` levels) what it
  // waits for; a task that runs already (suspended, or blocked) only has
  // what it waits for helped. True if the task itself ran here.
  virtual bool run_here(Executor& executor, int depth) noexcept {
    help_waits(executor, depth);
    return false;
  }

  // Helps what this running task waits for right now (what its suspension
  // or blocking call said it waits on).
  // True if anything ran.
  bool help_waits(Executor& executor, int depth) noexcept {
    constexpr std::size_t kMaxHelped = 8;
    constexpr int kMaxDepth = 64;
    if (depth >= kMaxDepth) return false;
    StateBase* pinned[kMaxHelped];
    std::size_t count = 0;
    {
      std::lock_guard guard(lock_);
      if (cancel_hook_ == nullptr) return false;
      for (StateBase* state : cancel_hook_->waits_on) {
        if (count == kMaxHelped) break;
        if (state == nullptr || state->is_ready()) continue;
        state->add_ref();
        pinned[count++] = state;
      }
    }
    bool ran = false;
    for (std::size_t i = 0; i < count; ++i) {
      if (!pinned[i]->is_ready()) ran = pinned[i]->run_here(executor, depth + 1) || ran;
      pinned[i]->release();
    }
    return ran;
  }

 protected:
  explicit StateBase(std::uint32_t refs) noexcept : refs_(refs) {}
  virtual ~StateBase() = default;

  // cancel() won before the task started (the status is now `completing`;
  // `was` is what it was: pending or queued): the task publishes its
  // TaskCancelled and leaves whatever line it is in.
  virtual void cancelled_before_start(Status /*was*/) noexcept {
    publish_error(std::make_exception_ptr(TaskCancelled()));
  }

  // running -> completing, for the one thread running the task (a cancel
  // only completes a task before its start, so nobody else can here).
  void mark_completing() noexcept { status_.store(Status::completing, std::memory_order_relaxed); }

  // Wins the right to complete (running|pending|queued -> completing).
  bool begin_completion() noexcept {
    Status seen = status_.load(std::memory_order_acquire);
    while (seen < Status::completing) {
      if (status_.compare_exchange_weak(seen, Status::completing, std::memory_order_acq_rel)) return true;
    }
    return false;
  }
  // After begin_completion (or a cancel that won before the start).
  void publish_error(std::exception_ptr error) noexcept {
    error_ = std::move(error);
    publish(Status::error);
  }

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

  // The state's own lock, for derived classes' bookkeeping that must be
  // atomic with respect to cancel() (a few instructions, never blocking).
  SpinLock& lock() noexcept { return lock_; }

 private:
  bool advance(Status from, Status to) noexcept {
    return status_.compare_exchange_strong(from, to, std::memory_order_acq_rel);
  }

  std::atomic<std::uint32_t> refs_;
  std::atomic<Status> status_{Status::pending};
  // Cancellation in one byte (written under lock_): requested, with the
  // children, and the reason, so that the whole header fits one word.
  static constexpr std::uint8_t kRequested = 1;
  static constexpr std::uint8_t kWithChildren = 2;
  static constexpr int kReasonShift = 2;
  std::atomic<std::uint8_t> cancel_{0};
  SpinLock lock_;
  Waiter* waiters_ = nullptr;
  CancelHook* cancel_hook_ = nullptr;
  std::exception_ptr error_;
  std::stop_source children_{std::nostopstate};  // made when the first child starts
};

template <class T>
class SharedState : public StateBase {
 public:
  using value_type = stored_t<T>;

  // A state with `refs` owners, e.g. one future and one producer.
  explicit SharedState(std::uint32_t refs = 1) noexcept : StateBase(refs) {}

  // Completes with a value unless the state completed already (then false,
  // and `value` is left alone).
  template <class... U>
  bool set_value(U&&... value) noexcept(std::is_nothrow_constructible_v<value_type, U...>) {
    if (!this->begin_completion()) return false;
    publish_value(std::forward<U>(value)...);
    return true;
  }
  // Only after is_ready() and !has_error().
  const value_type& value() const noexcept { return *value_; }
  value_type& mutable_value() noexcept { return *value_; }

 protected:
  // After begin_completion.
  template <class... U>
  void publish_value(U&&... value) noexcept(std::is_nothrow_constructible_v<value_type, U...>) {
    value_.emplace(std::forward<U>(value)...);
    this->publish(Status::value);
  }

 private:
  std::optional<value_type> value_;
};

// Cancels each task of a list taken under some lock, each pinned there
// (add_ref) so it outlives the lock, then lets go of it.
inline void cancel_pinned(const std::vector<StateBase*>& tasks, CancelReason reason) noexcept {
  for (StateBase* task : tasks) {
    task->request_cancel(reason);
    task->release();
  }
}

}  // namespace fray::detail
