// PythonFunction<R>: a Python function of a WorkerPool as a C++ callable
// that ctx.run(...) takes, so a Python call is a task like any other:
// TaskOptions' retries, resources and name apply, and cancel() on the task
// reaches the Python call (SIGINT in the worker).
//
//   fray::Future<int> sum = ctx.run(fray::TaskOptions{}.with_max_retries(2), pool.function<int>("m:add"), 1, 2);
#pragma once

#include <boost/json/value.hpp>

#include <coroutine>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "fray/detail/suspension.hpp"
#include "fray/detail/pending_call.hpp"
#include "fray/detail/worker_launch.hpp"
#include "fray/future.hpp"
#include "fray/python_args.hpp"
#include "fray/task.hpp"

namespace fray {

namespace detail {

class PoolCore;
std::size_t pool_max_frame_bytes(const PoolCore& pool) noexcept;
void pool_submit(PoolCore& pool, PendingCall* call);

// A call's state, ready to submit: the caller adopts its future reference.
template <class R>
CallState<R>* new_call(std::string request, const PythonCallOptions& options, const std::shared_ptr<WorkerOwner>& owner) {
  auto* call = new CallState<R>();
  call->request = std::move(request);
  call->timeout = options.timeout;
  call->retries_left = options.max_retries.value_or(0);
  if (options.queue_timeout) call->limit_wait(*options.queue_timeout);
  call->set_owner(owner);
  call->arm_cancel();
  return call;
}

// Makes the call's state, encodes the request, submits it. Errors before
// the call is sent (UnsupportedJson, FrameTooLarge, a closed pool) go to
// the future.
template <class R>
Future<R> submit_call(const std::shared_ptr<PoolCore>& pool, const PythonCallOptions& options,
                      std::string_view function, PackedArgs&& packed) {
  if (!pool) return failed_call<R>(std::make_exception_ptr(Error("empty fray WorkerPool (moved from)")));
  std::string request;
  try {
    options.check();
    request = encode_request('f', function, std::move(packed), pool_max_frame_bytes(*pool));
  } catch (...) {
    return failed_call<R>(std::current_exception());
  }
  auto* call = new_call<R>(std::move(request), options, std::static_pointer_cast<WorkerOwner>(pool));
  call->route_key = std::hash<std::string_view>{}(function);
  Future<R> future(call);
  pool_submit(*pool, call);
  return future;
}

// co_await of a Python call's future inside a task: cancelling the task
// cancels the call, and the task waits for the call to stop (its outcome
// is then the call's, usually TaskCancelled).
template <class R>
class PythonCallAwaiter : Waiter, Suspension {
 public:
  explicit PythonCallAwaiter(Future<R> future) : future_(std::move(future)) {}
  PythonCallAwaiter(const PythonCallAwaiter&) = delete;

  bool await_ready() const { return future_.ready(); }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> handle) {
    prepare(handle);
    on_ready = [](Waiter* self) noexcept { static_cast<PythonCallAwaiter*>(self)->wake(); };
    on_cancel = [](CancelHook* self) noexcept { static_cast<PythonCallAwaiter*>(self)->future_.cancel(); };
    auto enqueue = [this]() noexcept { return future_.state_ptr()->add_waiter(this); };
    if (frame() != nullptr && frame()->cancelled()) {
      // Cancelled already: stop the call, and still wait for it to stop.
      future_.cancel();
      return enqueue();
    }
    if (suspend(enqueue, /*lends=*/true)) return true;
    if (!frame()->cancelled()) return false;  // the result was there
    future_.cancel();  // a cancel came first
    return enqueue();
  }
  R await_resume() {
    if (frame() != nullptr && frame()->task_state != nullptr) frame()->task_state->clear_cancel_hook();
    return std::move(future_).get();
  }

 private:
  Future<R> future_;
};

template <class R>
Task<R> await_python_call(Future<R> future) {
  if constexpr (std::is_void_v<R>) {
    co_await PythonCallAwaiter<R>(std::move(future));
  } else {
    co_return co_await PythonCallAwaiter<R>(std::move(future));
  }
}

}  // namespace detail

template <class R = boost::json::value>
class PythonFunction {
 public:
  PythonFunction(std::shared_ptr<detail::PoolCore> pool, std::string name, PythonCallOptions options)
      : pool_(std::move(pool)), name_(std::move(name)), options_(options) {}

  // Sends the call now and returns a task that waits for it.
  template <class... Args>
  Task<R> operator()(Args&&... args) const {
    auto packed = detail::pack_arguments(std::forward<Args>(args)...);
    return detail::await_python_call<R>(detail::submit_call<R>(pool_, options_, name_, std::move(packed)));
  }

  const std::string& name() const noexcept { return name_; }

 private:
  std::shared_ptr<detail::PoolCore> pool_;
  std::string name_;
  PythonCallOptions options_;
};

}  // namespace fray
