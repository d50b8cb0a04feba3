// Task<T>: fray's coroutine type. Lazy (starts when run or awaited), and
// awaiting one Task from another transfers control directly (symmetric
// transfer), so chains of any depth use no stack and no scheduling.
// Hand a function returning Task<T> to run() to get a Future<T>.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "fray/detail/suspension.hpp"
#include "fray/detail/shared_state.hpp"

namespace fray {

template <class T = void>
class Task;

namespace detail {

class TaskPromiseBase {
 public:
  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> handle) noexcept {
      TaskPromiseBase& promise = handle.promise();
      if (promise.continuation_) return promise.continuation_;
      // A root task: tell its owner, which may destroy this frame; touch
      // nothing afterwards.
      if (promise.on_root_done_ != nullptr) promise.on_root_done_(promise.root_owner_);
      return std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error_ = std::current_exception(); }

  FrameContext& frame_context() noexcept { return frame_; }
  const std::exception_ptr& error() const noexcept { return error_; }

  void set_continuation(std::coroutine_handle<> continuation) noexcept { continuation_ = continuation; }
  // For the root of a task: `done(owner)` runs when the coroutine finishes.
  void set_root(void (*done)(void*) noexcept, void* owner, FrameContext frame) noexcept {
    on_root_done_ = done;
    root_owner_ = owner;
    frame_ = frame;
  }
  void inherit_frame(const FrameContext& frame) noexcept { frame_ = frame; }

 private:
  std::coroutine_handle<> continuation_;
  void (*on_root_done_)(void*) noexcept = nullptr;
  void* root_owner_ = nullptr;
  FrameContext frame_;
  std::exception_ptr error_;
};

template <class T>
class TaskPromise : public TaskPromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& value) {
    value_.emplace(std::forward<U>(value));
  }
  T take_result() {
    if (error()) std::rethrow_exception(error());
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class TaskPromise<void> : public TaskPromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take_result() {
    if (error()) std::rethrow_exception(error());
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using value_type = T;
  using Handle = std::coroutine_handle<promise_type>;

  Task() noexcept = default;
  explicit Task(Handle handle) noexcept : handle_(handle) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  ~Task() {
    if (handle_) handle_.destroy();
  }

  bool valid() const noexcept { return static_cast<bool>(handle_); }
  Handle handle() const noexcept { return handle_; }
  // Gives up ownership of the frame (the runtime takes it over).
  Handle release() noexcept { return std::exchange(handle_, nullptr); }

  struct Awaiter {
    Handle child;
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> parent) noexcept {
      child.promise().set_continuation(parent);
      if (auto* frame = detail::frame_context_of(parent)) child.promise().inherit_frame(*frame);
      return child;
    }
    T await_resume() { return child.promise().take_result(); }
  };
  // Runs the child inline in the awaiting task (no scheduling).
  Awaiter operator co_await() && noexcept { return Awaiter{handle_}; }

 private:
  Handle handle_;
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<Task<T>> : std::true_type {};
}  // namespace detail

}  // namespace fray
