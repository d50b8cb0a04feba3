// A Python call on its way to a worker and back. It lives in its future's
// shared state (one allocation per call); the engine holds one reference
// while the call is queued or in flight, and drops it once it completed it.
#pragma once

#include <boost/json/value.hpp>
#include <boost/json/value_to.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "fray/detail/shared_state.hpp"
#include "fray/duration_limit.hpp"
#include "fray/errors.hpp"

namespace fray::detail {

class WorkerOwner;

class PendingCall : public CancelHook {
 public:
  PendingCall() { on_cancel = &PendingCall::cancel_hook; }
  PendingCall(const PendingCall&) = delete;
  virtual ~PendingCall() = default;

  // The request's JSON (encode_request), built once on the caller's thread
  // and numbered each time it is sent (a retry, an actor's restart).
  std::string request;
  // Which expected duration the pool routes it by (its function's).
  std::size_t route_key = 0;
  std::optional<std::chrono::milliseconds> timeout;
  // PythonCallOptions::queue_timeout, and the time it must start by (unset
  // once it has started: a retry is not held to it).
  std::optional<std::chrono::milliseconds> queue_timeout;
  std::optional<std::chrono::steady_clock::time_point> start_by;
  int retries_left = 0;  // -1: unlimited (Ray's max_retries=-1)
  // Set on the I/O thread: cancel() reached it.
  bool cancelling = false;
  std::chrono::steady_clock::time_point cancelled_at{};
  // The pool asked its worker to give it back unstarted (to run elsewhere).
  bool withdrawing = false;
  // The pool expects it to be short: the worker may hold the answers before
  // it a little (worker_protocol.hpp, "q").
  bool expected_short = false;
  // An actor's constructor call (its answer makes the actor ready or dead).
  bool is_constructor = false;
  // Where it is, in the worker it was sent to last (the owner's mutex):
  // its request number there, and whether (and when) it started.
  std::uint64_t seq = 0;
  bool started = false;
  std::chrono::steady_clock::time_point started_at{};

  // From now on, it may wait `limit` to start (100 years or more: forever).
  void limit_wait(std::chrono::milliseconds limit) noexcept {
    queue_timeout = limit;
    if (!is_never(limit)) start_by = std::chrono::steady_clock::now() + limit;
  }
  // It has not started, and its start deadline has passed.
  bool start_overdue(std::chrono::steady_clock::time_point now) const noexcept {
    return !started && start_by && now >= *start_by;
  }

  // Takes one retry after a crash; false when none is left.
  bool take_retry() noexcept {
    if (retries_left == 0) return false;
    if (retries_left > 0) --retries_left;
    return true;
  }

  virtual StateBase& state() noexcept = 0;
  // Completes the future and drops the engine's reference: call once, with
  // no lock held (waking a waiter may run user code).
  virtual void complete(boost::json::value&& result) noexcept = 0;
  void fail(std::exception_ptr error) noexcept {
    StateBase& s = state();
    s.clear_cancel_hook();
    s.complete_with_error(std::move(error));
    s.release();
  }

  // Who cancel() is routed to; set before the future is handed out.
  void set_owner(std::weak_ptr<WorkerOwner> owner) noexcept { owner_ = std::move(owner); }
  // Nobody has the future yet, so nobody can have cancelled it.
  void arm_cancel() noexcept { state().set_cancel_hook(this); }

 private:
  static void cancel_hook(CancelHook* self) noexcept;
  std::weak_ptr<WorkerOwner> owner_;
};

template <class R>
class CallState final : public SharedState<R>, public PendingCall {
 public:
  CallState() : SharedState<R>(2) { this->try_start(); }  // one reference for the future, one for the engine

  StateBase& state() noexcept override { return *this; }
  void complete(boost::json::value&& result) noexcept override {
    this->clear_cancel_hook();
    try {
      if constexpr (std::is_void_v<R>) {
        this->set_value();
      } else if constexpr (std::is_same_v<R, boost::json::value>) {
        this->set_value(std::move(result));
      } else {
        this->set_value(boost::json::value_to<R>(result));
      }
    } catch (const std::exception& e) {
      this->complete_with_error(std::make_exception_ptr(
          Error(std::string("the Python call's result does not convert to the requested type: ") + e.what())));
    }
    this->release();
  }
};

}  // namespace fray::detail
