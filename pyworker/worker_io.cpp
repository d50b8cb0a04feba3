#include "fray/detail/worker_io.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>

#include "fray/detail/cpu_relax.hpp"

namespace fray::detail {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// fray's worker I/O thread. Lives until the program exits, so the
// PR_SET_PDEATHSIG of the workers it launches stays armed that long.
//
// Its loop sleeps in epoll as usual. With FRAY_WORKER_SPIN_US set, while an
// answer is expected soon it polls without sleeping for that long instead,
// because waking a sleeping thread costs tens of microseconds on small VMs.
// A caller that sends to an idle worker asks for that (the wake-up it may
// cost happens while Python runs, not after). Off by default: on a machine
// whose cores are busy, polling threads take the core the worker needs
// (measured: 100 us round trips became 400 us to 4 ms).
class IoThread {
 public:
  static IoThread& instance() {
    static IoThread thread;
    return thread;
  }
  asio::io_context& io() { return io_; }
  bool is_current() const noexcept { return id_.load(std::memory_order_acquire) == std::this_thread::get_id(); }

  void request_spin() noexcept {
    if (spin_.count() == 0) return;
    const auto until = (Clock::now() + spin_).time_since_epoch().count();
    spin_until_.store(until, std::memory_order_seq_cst);
    if (!is_current() && sleeping_.load(std::memory_order_seq_cst)) {
      asio::post(io_, [] {});  // wake it to spin
    }
  }

 private:
  IoThread() : guard_(io_.get_executor()), spin_(answer_spin()) {
    thread_ = std::thread([this] { loop(); });
  }
  ~IoThread() {
    stopping_.store(true);
    guard_.reset();
    io_.stop();
    thread_.join();
  }

  void loop() {
    // A write to a pipe whose reader died must fail with EPIPE here, not
    // kill the program; the children reset their mask before exec.
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
    id_.store(std::this_thread::get_id(), std::memory_order_release);
    while (!stopping_.load(std::memory_order_acquire) && !io_.stopped()) {
      if (Clock::now().time_since_epoch().count() < spin_until_.load(std::memory_order_seq_cst)) {
        if (io_.poll() == 0) cpu_relax();
        continue;
      }
      sleeping_.store(true, std::memory_order_seq_cst);
      if (Clock::now().time_since_epoch().count() >= spin_until_.load(std::memory_order_seq_cst)) io_.run_one();
      sleeping_.store(false, std::memory_order_seq_cst);
    }
  }

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::atomic<std::thread::id> id_{};
  std::atomic<Clock::rep> spin_until_{0};
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> stopping_{false};
  const std::chrono::microseconds spin_;
  std::thread thread_;
};

}  // namespace

std::chrono::microseconds answer_spin() {
  static const std::chrono::microseconds spin = [] {
    const char* text = std::getenv("FRAY_WORKER_SPIN_US");
    if (text == nullptr || *text == '\0') return std::chrono::microseconds(0);
    return std::chrono::microseconds(std::max(0L, std::strtol(text, nullptr, 10)));
  }();
  return spin;
}

asio::io_context& worker_io() { return IoThread::instance().io(); }
void request_answer_spin() noexcept { IoThread::instance().request_spin(); }
bool on_worker_io_thread() noexcept { return IoThread::instance().is_current(); }

}  // namespace fray::detail
