// A pool or a Python actor, as its worker processes see it: what they tell
// it (answers, withdrawn calls, their exit, their output), and what it does
// for every kind of owner alike: cancel a call wherever it is, and fail the
// calls that did not start by their deadline (PythonCallOptions::
// queue_timeout), wherever they wait.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "fray/detail/pending_call.hpp"
#include "fray/worker_log.hpp"

namespace fray::detail {

class WorkerProcess;

// What completing calls looks like once the owner's mutex is released.
struct Completion {
  PendingCall* call;
  std::variant<boost::json::value, std::exception_ptr> outcome;
};
using Completions = std::vector<Completion>;
void run_completions(Completions& done) noexcept;

// How a worker ended.
struct WorkerExit {
  int pid = 0;
  std::optional<int> exit_code, signal;
  std::vector<std::string> last_stderr;
  // Why fray killed it, if it did: timeout and cancel name the running call's
  // fate (a call that started after the kill was decided gets none).
  enum class Cause { none, timeout, cancel, shutdown, retire } cause = Cause::none;
  std::string launch_error;  // set when it never ran
  std::uint64_t calls_started = 0;  // by this process, ever
};

// The calls a worker's exit left without an answer.
struct Unfinished {
  PendingCall* running = nullptr;        // it had started: WorkerExit::cause is its fate
  std::deque<PendingCall*> not_started;  // they never ran: sent again, no attempt spent
};

// PythonCallQueueTimeout for `call`, which did not start by its deadline.
std::exception_ptr queue_timeout_error(const PendingCall& call);

class WorkerOwner : public std::enable_shared_from_this<WorkerOwner> {
 public:
  virtual ~WorkerOwner();
  std::mutex mutex;

  // All on the I/O thread with `mutex` held. Answers of `worker` were paired
  // with their calls (`done` completes them after unlocking).
  virtual void on_answered(WorkerProcess& worker, Completions& done) = 0;
  // The watch timer read the journal of `worker` (every few milliseconds
  // while it has calls expected to be short): a chance to move calls.
  virtual void on_looked(WorkerProcess&) {}
  // `worker` gave `call` back unstarted, as withdraw_locked() asked (a call
  // past its start deadline never comes here: it fails).
  virtual void on_withdrawn(WorkerProcess& worker, PendingCall* call, Completions& done) = 0;
  // The worker is gone and reaped.
  virtual void on_exit(WorkerProcess& worker, const WorkerExit& exit, Unfinished unfinished, Completions& done) = 0;
  // Without the mutex.
  virtual void on_log(const WorkerLogLine& line) = 0;
  // The calls waiting here, not sent to any worker (the owner's mutex).
  virtual std::deque<PendingCall*>& waiting_locked() = 0;
  virtual std::vector<std::shared_ptr<WorkerProcess>> workers_locked() = 0;

  // cancel() on a call's future, on the I/O thread, without the mutex.
  void cancel(PendingCall* call);
  // Is `call` waiting here (not sent to a worker)? Then take it out.
  bool unqueue_locked(PendingCall* call);
  // Any thread, `mutex` held: `call` (just made, or back here) must start
  // by its start_by. At that time, if it has not, it fails with
  // PythonCallQueueTimeout: taken out of the waiting calls, or withdrawn
  // from the worker it was sent to (if that worker starts it meanwhile, it
  // runs as usual).
  void watch_start_deadline_locked(const PendingCall& call);

 private:
  // Without the mutex, on the I/O thread: reads every worker's journal, so
  // that what they did up to now is known.
  void catch_up_workers();
  void arm_start_timer_locked(std::chrono::steady_clock::time_point when);
  void on_start_timer();
  // Fails or withdraws what is past its deadline; the next deadline left.
  std::optional<std::chrono::steady_clock::time_point> expire_unstarted_locked(
      std::chrono::steady_clock::time_point now, Completions& done);

  // The I/O thread's; made on first use.
  std::unique_ptr<boost::asio::steady_timer> start_timer_;
  // Guarded by `mutex`: when the start timer is set for, if it is.
  std::optional<std::chrono::steady_clock::time_point> start_timer_at_;
};

}  // namespace fray::detail
