// Future<T>: the result of a task. Awaitable with co_await from a coroutine,
// get() from plain code; a task's exception is rethrown at get/co_await
// with its original type, never at run().
#pragma once

#include <chrono>
#include <coroutine>
#include <type_traits>
#include <utility>
#include <vector>

#include "fray/detail/blocking.hpp"
#include "fray/detail/suspension.hpp"
#include "fray/detail/shared_state.hpp"
#include "fray/errors.hpp"

namespace fray {

template <class T>
class Future;

namespace detail {

// Moves the result out when nobody else can see it (or when it cannot be
// copied: a move-only result is taken by the first rvalue reader).
template <class T>
T take_or_copy(SharedState<T>& state) {
  if constexpr (std::is_copy_constructible_v<T>) {
    if (state.ref_count() != 1) return state.value();
  }
  return std::move(state.mutable_value());
}


// Suspends a coroutine until a state completes. Holds its own reference to
// the state, so `co_await run(...)` on a temporary is safe. A task waiting
// here lends its cpu (fray/detail/suspension.hpp).
template <class T, bool Take>
class FutureAwaiter : Waiter, Suspension {
 public:
  explicit FutureAwaiter(SharedState<T>* state) noexcept : state_(state), waited_(state) {}
  FutureAwaiter(const FutureAwaiter&) = delete;
  ~FutureAwaiter() { state_->release(); }

  // A ready result is taken at once, unless the task was cancelled: then
  // await_suspend declines to suspend and await_resume throws.
  bool await_ready() const noexcept { return state_->is_ready() && !current_task_cancelled(); }

  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> handle) noexcept {
    prepare(handle);
    waits_on = std::span<StateBase* const>(&waited_, 1);
    on_ready = [](Waiter* self) noexcept { static_cast<FutureAwaiter*>(self)->wake(); };
    on_cancel = [](CancelHook* self) noexcept {
      // With the task's state locked: wake the coroutine if the result has
      // not already done so; await_resume then throws TaskCancelled.
      auto* awaiter = static_cast<FutureAwaiter*>(self);
      if (awaiter->state_->remove_waiter(awaiter)) awaiter->wake();
    };
    return suspend([this]() noexcept { return state_->add_waiter(this); }, /*lends=*/true);
  }

  decltype(auto) await_resume() {
    resume_checked();
    state_->rethrow_if_error();
    if constexpr (std::is_void_v<T>) {
      return;
    } else if constexpr (Take) {
      return take_or_copy(*state_);
    } else {
      return static_cast<const T&>(state_->value());
    }
  }

 private:
  SharedState<T>* state_;
  StateBase* waited_;  // the same, as what this suspension waits on
};

}  // namespace detail

using detail::CancelScope;

template <class T = void>
class Future {
 public:
  using value_type = T;
  using State = detail::SharedState<T>;

  Future() noexcept = default;
  // Adopts one reference to `state`.
  explicit Future(State* state) noexcept : state_(state) {}
  Future(const Future& other) noexcept : state_(other.state_) {
    if (state_ != nullptr) state_->add_ref();
  }
  Future(Future&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  Future& operator=(Future other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~Future() {
    if (state_ != nullptr) state_->release();
  }

  bool valid() const noexcept { return state_ != nullptr; }
  // True once the task finished, with a value or an error.
  bool ready() const { return state().is_ready(); }
  bool has_error() const { return state().has_error(); }

  // Blocks until the result is ready; rethrows the task's exception.
  // On an lvalue the result stays in the future (no copy); on an rvalue
  // (`run(...).get()`) it is moved out when nobody else can see it.
  decltype(auto) get() const& {
    wait_ready(std::nullopt);
    return read();
  }
  auto get() && {
    wait_ready(std::nullopt);
    return take();
  }
  // Throws GetTimeout if the result is not ready within `timeout`.
  template <class Rep, class Period>
  decltype(auto) get(std::chrono::duration<Rep, Period> timeout) const& {
    wait_ready(detail::Clock::now() + timeout);
    return read();
  }
  template <class Rep, class Period>
  auto get(std::chrono::duration<Rep, Period> timeout) && {
    wait_ready(detail::Clock::now() + timeout);
    return take();
  }

  // EmptyFuture (catchable in the coroutine) on a future without a task.
  auto operator co_await() const& {
    state().add_ref();
    return detail::FutureAwaiter<T, false>(state_);
  }
  auto operator co_await() && {
    state();
    return detail::FutureAwaiter<T, true>(std::exchange(state_, nullptr));
  }

  // Cancels the task (ray.cancel): if it has not started it never will; a
  // running coroutine task stops at its next co_await, a plain one sees
  // this_task::cancel_requested(). The tasks it started are cancelled with
  // it, recursively, unless `scope` is CancelScope::task_only (Ray's
  // recursive=False). get() then throws TaskCancelled. Returns true if the
  // task was stopped before it started.
  bool cancel(CancelScope scope = CancelScope::with_children) const noexcept {
    return state_ != nullptr && state_->request_cancel(detail::CancelReason::user, scope);
  }

  State* state_ptr() const noexcept { return state_; }

 private:
  State& state() const {
    if (state_ == nullptr) throw EmptyFuture();
    return *state_;
  }
  void wait_ready(const detail::Deadline& deadline) const {
    if (!detail::block_until_ready(state(), deadline)) {
      throw GetTimeout("get() timed out before the task finished");
    }
  }
  decltype(auto) read() const {
    state_->rethrow_if_error();
    if constexpr (std::is_void_v<T>) {
      return;
    } else {
      return static_cast<const T&>(state_->value());
    }
  }
  auto take() {
    state_->rethrow_if_error();
    if constexpr (std::is_void_v<T>) {
      return;
    } else {
      return detail::take_or_copy(*state_);
    }
  }

  State* state_ = nullptr;
};

// Blocking get, as ray.get: fray::get(future) or fray::get(future, timeout).
template <class F, class... Timeout>
decltype(auto) get(F&& future, Timeout... timeout)
  requires requires { future.get(timeout...); }
{
  return std::forward<F>(future).get(timeout...);
}

// ray.get(list): every result, in order, once all are complete; the first
// failure in input order is rethrown (after all have completed).
template <class T>
  requires(!std::is_void_v<T>)
std::vector<T> get(const std::vector<Future<T>>& futures) {
  for (const auto& future : futures) {
    if (!future.valid()) throw EmptyFuture();
  }
  for (const auto& future : futures) detail::block_until_ready(*future.state_ptr(), std::nullopt);
  std::vector<T> values;
  values.reserve(futures.size());
  for (const auto& future : futures) values.push_back(future.get());
  return values;
}
inline void get(const std::vector<Future<void>>& futures) {
  for (const auto& future : futures) {
    if (!future.valid()) throw EmptyFuture();
  }
  for (const auto& future : futures) detail::block_until_ready(*future.state_ptr(), std::nullopt);
  for (const auto& future : futures) future.get();
}

// A future that is already complete, e.g. to return from a branch that
// does no work.
template <class T>
Future<std::decay_t<T>> make_ready_future(T&& value) {
  auto* state = new detail::SharedState<std::decay_t<T>>(1);
  state->set_value(std::forward<T>(value));
  return Future<std::decay_t<T>>(state);
}
inline Future<void> make_ready_future() {
  auto* state = new detail::SharedState<void>(1);
  state->set_value();
  return Future<void>(state);
}

}  // namespace fray
