// The errors fray raises itself. A task's own exception is never wrapped:
// get() and co_await rethrow it with its original type. These mirror Ray's
// error kinds (TaskCancelledError, GetTimeoutError, ...).
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

namespace fray {

// Base of every error fray raises on its own account.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The task was cancelled before it finished (Ray: TaskCancelledError).
class TaskCancelled : public Error {
 public:
  TaskCancelled() : Error("task cancelled") {}
  using Error::Error;
};

// The task ran past its TaskOptions::timeout and was cancelled for it. A
// TaskCancelled, so code that handles cancellation handles this too.
class TaskTimeout : public TaskCancelled {
 public:
  using TaskCancelled::TaskCancelled;
};

// get() or wait() gave up before the result was ready (Ray: GetTimeoutError).
class GetTimeout : public Error {
 public:
  using Error::Error;
};

// The task asks for more of a resource than the runtime has in total, so it
// could never start (Ray: TaskUnschedulableError).
class TaskUnschedulable : public Error {
 public:
  using Error::Error;
};

// A blocking get()/wait() inside a task would leave the pool with no thread
// to run tasks: every thread, including the extra ones started to stand in
// for blocked tasks (RuntimeOptions::max_extra_threads), is blocked. Thrown
// instead of hanging; co_await the future, or raise the limit.
class TooManyBlockedTasks : public Error {
 public:
  using Error::Error;
};

// The runtime is shutting down or gone; no new work is accepted.
class RuntimeStopped : public Error {
 public:
  RuntimeStopped() : Error("the fray runtime is shutting down") {}
};

// Code asked for the ambient context outside of any runtime or task.
class NoContext : public Error {
 public:
  NoContext() : Error("no fray context: create a fray::Runtime first") {}
};

// A future without a task behind it (default-constructed or moved from).
class EmptyFuture : public Error {
 public:
  EmptyFuture() : Error("empty fray future (default-constructed or moved from)") {}
};

// Options that can never work, caught when the task is submitted.
class InvalidOptions : public Error {
 public:
  using Error::Error;
};

// The actor is gone: killed, its constructor threw, or the runtime shut down
// (Ray: ActorDiedError). Calls queued on it and calls made afterwards fail
// with this. cause() is the constructor's exception when that is why.
class ActorDied : public Error {
 public:
  explicit ActorDied(const std::string& what, std::exception_ptr cause = nullptr)
      : Error(what), cause_(std::move(cause)) {}
  const std::exception_ptr& cause() const noexcept { return cause_; }

 private:
  std::exception_ptr cause_;
};

// The actor already has max_pending_calls calls queued or running; the call
// fails at once instead of queueing (Ray: PendingCallsLimitExceeded).
class ActorMailboxFull : public Error {
 public:
  using Error::Error;
};

// create_actor with a name a live actor already has, without get_if_exists.
class ActorNameTaken : public Error {
 public:
  using Error::Error;
};

// get_actor<T> (or get_if_exists) found the name, but on an actor of another type.
class ActorTypeMismatch : public Error {
 public:
  using Error::Error;
};

}  // namespace fray
