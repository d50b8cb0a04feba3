// How a plain (non-coroutine) caller blocks for a result. The right way
// depends on the thread: a pool worker keeps running queued work while it
// waits (so a blocking get inside a task cannot starve the pool), the driver
// of the inline executor drains its queue, any other thread spins briefly
// (wake-ups cost tens of microseconds here) and then parks.
#pragma once

#include "fray/detail/shared_state.hpp"
#include "fray/detail/signal.hpp"

namespace fray::detail {

// Implemented by executors whose threads can do useful work while blocked.
class BlockingHelper {
 public:
  virtual ~BlockingHelper() = default;
  // Runs queued work until `signal` is set or the deadline passes; true if set.
  virtual bool help_until(Signal& signal, const Deadline& deadline) = 0;
};

// The helper of the calling thread, if any (set by executors for their own
// threads).
BlockingHelper*& current_blocking_helper() noexcept;

// A waiter that wakes a blocked thread.
struct SignalWaiter : Waiter {
  Signal signal;
  SignalWaiter() noexcept {
    on_ready = [](Waiter* self) noexcept { static_cast<SignalWaiter*>(self)->signal.notify(); };
  }
};

// Blocks until `signal` is set; `home` is the executor whose work may be
// what sets it. True if set, false on timeout.
bool block_until(Signal& signal, Executor* home, const Deadline& deadline);

// Blocks until `state` completes; false on timeout.
bool block_until_ready(StateBase& state, const Deadline& deadline);

// Spins for a short while (a few microseconds) on `done`; true if it came true.
template <class Done>
bool spin_briefly(Done&& done);

}  // namespace fray::detail

#include "fray/detail/blocking_impl.hpp"
