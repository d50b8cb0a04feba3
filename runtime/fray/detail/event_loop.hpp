// The runtime's Asio event loop: timers now, processes and pipes later. It
// runs on one thread of its own, started on first use, so a runtime that
// never sleeps or times out costs no thread for it.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <mutex>
#include <optional>
#include <thread>

namespace fray::detail {

class EventLoop {
 public:
  EventLoop() = default;
  EventLoop(const EventLoop&) = delete;
  ~EventLoop() { stop(); }

  // The io_context, with its thread running.
  boost::asio::io_context& context();
  // Finishes pending handlers' cancellation and joins the thread.
  void stop() noexcept;

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::once_flag started_;
  boost::asio::io_context io_{1};
  std::optional<WorkGuard> keep_running_;
  std::thread thread_;
};

}  // namespace fray::detail
