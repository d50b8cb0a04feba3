// The runtime's Asio event loop: every timer of the runtime (sleep, wait
// and stream timeouts, task timeouts, retry back-off). It runs on one thread
// of its own, started on first use, so a runtime that never sleeps or times
// out costs no thread for it.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "fray/detail/timer_service.hpp"

namespace fray::detail {

class EventLoop final : public TimerService {
 public:
  EventLoop() = default;
  EventLoop(const EventLoop&) = delete;
  ~EventLoop() { stop(); }

  // The io_context, with its thread running.
  boost::asio::io_context& context();
  std::shared_ptr<Timer> start_timer(Clock::time_point deadline, std::function<void(bool expired)> callback) override;
  // Cancels the timers still pending (their callbacks run, with
  // expired=false), lets every handler finish, and joins the thread.
  void stop() noexcept;

  // For the timers' own bookkeeping.
  void timer_armed(Timer& timer);
  void timer_done(Timer& timer) noexcept;

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::once_flag started_;
  boost::asio::io_context io_{1};
  std::optional<WorkGuard> keep_running_;
  std::thread thread_;
  std::mutex timers_mutex_;
  std::vector<Timer*> timers_;  // armed, callback not yet run
};

}  // namespace fray::detail
