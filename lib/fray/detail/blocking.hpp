// How plain (non-coroutine) code blocks for a result. The right way depends
// on the thread:
//  - a thread of a runtime's executor (a pool thread, or a task running on
//    the inline executor) has a Blocker: it never runs unrelated work on its
//    stack; it may run the very task it waits for if that is still queued,
//    gives its task's cpu back meanwhile, and otherwise parks while the pool
//    keeps its parallelism;
//  - the driver of an inline (sync) context drives that context's queue
//    until the result is there;
//  - any other thread spins briefly (a wake-up costs tens of microseconds
//    on these machines) and then parks.
#pragma once

#include <span>

#include "fray/detail/shared_state.hpp"
#include "fray/detail/signal.hpp"

namespace fray::detail {

// One blocking wait: until `signal` is set (something the caller
// registered sets it) or the deadline. `helpable` are the states whose
// completion may set it: a blocked thread may run their tasks itself if
// they are still queued (never anything else). `lends`: the waiting task
// gives its cpu back meanwhile. `cancellable`: cancelling the waiting task
// ends the wait (the caller then throws TaskCancelled).
struct BlockRequest {
  Signal& signal;
  const Deadline& deadline;
  std::span<StateBase* const> helpable;
  bool lends = true;
  bool cancellable = true;
};

// How the threads of one executor block. Set for the thread by the executor.
class Blocker {
 public:
  // True if the signal was set, false at the deadline.
  virtual bool block(const BlockRequest& request) = 0;
  // Runs `state`'s task here if it is queued on this executor (before a
  // wait is set up); true if anything ran.
  virtual bool run_first(StateBase& state) noexcept = 0;

 protected:
  ~Blocker() = default;
};

// The blocker of the calling thread, if any.
inline thread_local Blocker* t_current_blocker = nullptr;
inline Blocker*& current_blocker() noexcept { return t_current_blocker; }

class ScopedBlocker {
 public:
  explicit ScopedBlocker(Blocker* blocker) noexcept : saved_(current_blocker()) { current_blocker() = blocker; }
  ScopedBlocker(const ScopedBlocker&) = delete;
  ~ScopedBlocker() { current_blocker() = saved_; }

 private:
  Blocker* saved_;
};

// A waiter that wakes a blocked thread.
struct SignalWaiter : Waiter {
  Signal signal;
  SignalWaiter() noexcept {
    on_ready = [](Waiter* self) noexcept { static_cast<SignalWaiter*>(self)->signal.notify(); };
  }
};

// Blocks until `state` completes; false on timeout.
bool block_until_ready(StateBase& state, const Deadline& deadline);

// Blocks until `signal` is set; `helpable` are the states whose completion
// sets it (their home is where the work may be queued). True if set, false
// on timeout.
bool block_until(Signal& signal, std::span<StateBase* const> helpable, const Deadline& deadline);

// Parks until `state` completes, without helping anyone (the common tail of
// every blocking path); false on timeout.
bool park_until_ready(StateBase& state, const Deadline& deadline, bool spin);

// Spins for a short while (a few microseconds) on `done`; true if it came true.
template <class Done>
bool spin_briefly(Done&& done);

}  // namespace fray::detail

#include "fray/detail/blocking_impl.hpp"
