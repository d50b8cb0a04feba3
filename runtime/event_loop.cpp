#include "fray/detail/event_loop.hpp"

namespace fray::detail {

boost::asio::io_context& EventLoop::context() {
  std::call_once(started_, [this] {
    keep_running_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  });
  return io_;
}

void EventLoop::stop() noexcept {
  if (!thread_.joinable()) return;
  keep_running_.reset();
  io_.stop();
  thread_.join();
}

}  // namespace fray::detail
