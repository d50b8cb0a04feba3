// Where fray's timers run: the runtime's event loop implements this, so
// that awaiters in lib/ (sleep, wait with a timeout, a stream's next with a
// timeout) and the runtime's own deadlines (task timeouts, retry back-off)
// share one clock thread.
#pragma once

#include <functional>
#include <memory>

#include "fray/detail/signal.hpp"

namespace fray::detail {

class TimerService {
 public:
  class Timer {
   public:
    virtual ~Timer() = default;
    // Any thread. The callback then runs with expired=false, unless it
    // already ran (or is running) for the deadline.
    virtual void cancel() noexcept = 0;
  };

  // `callback(expired)` runs exactly once, on the service's thread: at
  // `deadline` with true, or earlier with false once cancelled.
  virtual std::shared_ptr<Timer> start_timer(Clock::time_point deadline, std::function<void(bool expired)> callback) = 0;

 protected:
  ~TimerService() = default;
};

}  // namespace fray::detail
