#include "fray/detail/event_loop.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace fray::detail {

namespace {

class LoopTimer final : public TimerService::Timer, public std::enable_shared_from_this<LoopTimer> {
 public:
  LoopTimer(EventLoop& loop, std::function<void(bool)> callback)
      : loop_(loop), io_(loop.context()), timer_(io_), callback_(std::move(callback)) {}

  void arm(Clock::time_point deadline) {
    timer_.expires_at(deadline);
    loop_.timer_armed(*this);
    // The handler owns the timer until it ran: exactly once, expired or not.
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
      self->loop_.timer_done(*self);
      auto callback = std::move(self->callback_);
      callback(!error);
    });
  }
  void cancel() noexcept override {
    try {
      // Timers belong to the loop's thread: cancel there.
      boost::asio::post(io_, [self = shared_from_this()] { self->timer_.cancel(); });
    } catch (...) {
      // Out of memory: the timer fires at its deadline instead.
    }
  }

 private:
  EventLoop& loop_;
  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  std::function<void(bool)> callback_;
};

}  // namespace

boost::asio::io_context& EventLoop::context() {
  std::call_once(started_, [this] {
    keep_running_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  });
  return io_;
}

std::shared_ptr<TimerService::Timer> EventLoop::start_timer(Clock::time_point deadline,
                                                            std::function<void(bool expired)> callback) {
  auto timer = std::make_shared<LoopTimer>(*this, std::move(callback));
  timer->arm(deadline);
  return timer;
}

void EventLoop::timer_armed(Timer& timer) {
  std::lock_guard guard(timers_mutex_);
  timers_.push_back(&timer);
}

void EventLoop::timer_done(Timer& timer) noexcept {
  std::lock_guard guard(timers_mutex_);
  std::erase(timers_, &timer);
}

void EventLoop::stop() noexcept {
  if (!thread_.joinable()) return;
  {
    // Each callback runs once, cancelled: whoever waits on a timer (a
    // task's timeout holds a reference to its task) is let go of.
    std::lock_guard guard(timers_mutex_);
    for (Timer* timer : timers_) timer->cancel();
  }
  keep_running_.reset();  // run() returns once the handlers are done
  thread_.join();
}

}  // namespace fray::detail
