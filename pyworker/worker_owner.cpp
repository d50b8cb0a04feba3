#include "fray/detail/worker_owner.hpp"

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <algorithm>

#include "fray/detail/worker_io.hpp"
#include "fray/detail/worker_process.hpp"
#include "fray/python_errors.hpp"

namespace fray::detail {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

void run_completions(Completions& done) noexcept {
  for (Completion& c : done) {
    if (auto* error = std::get_if<std::exception_ptr>(&c.outcome)) {
      c.call->fail(*error);
    } else {
      c.call->complete(std::move(std::get<boost::json::value>(c.outcome)));
    }
  }
  done.clear();
}

void PendingCall::cancel_hook(CancelHook* self) noexcept {
  auto* call = static_cast<PendingCall*>(self);
  auto owner = call->owner_.lock();
  if (!owner) return;
  // Under the state's lock here: the work happens on the I/O thread.
  call->state().add_ref();
  asio::post(worker_io(), [owner = std::move(owner), call] {
    owner->cancel(call);
    call->state().release();
  });
}

void WorkerOwner::catch_up_workers() {
  std::vector<std::shared_ptr<WorkerProcess>> workers;
  {
    std::lock_guard guard(mutex);
    workers = workers_locked();
  }
  for (auto& worker : workers) worker->catch_up();
}

void WorkerOwner::cancel(PendingCall* call) {
  catch_up_workers();  // a call that finished is not cancelled
  Completions done;
  {
    std::lock_guard guard(mutex);
    if (unqueue_locked(call)) {
      done.push_back({call, std::make_exception_ptr(TaskCancelled("the Python call was cancelled before it started"))});
    } else {
      // Sent to a worker (else it has finished, and nothing happens).
      for (auto& worker : workers_locked()) {
        auto& calls = worker->inflight;
        if (std::find(calls.begin(), calls.end(), call) == calls.end()) continue;
        worker->cancel_locked(call);
        break;
      }
    }
  }
  run_completions(done);
}


WorkerOwner::~WorkerOwner() {
  // The start timer is the I/O thread's: it is destroyed there (which
  // cancels its wait), not beside a wait that may be completing.
  if (start_timer_) asio::post(worker_io(), [timer = std::shared_ptr<asio::steady_timer>(std::move(start_timer_))] {});
}

bool WorkerOwner::unqueue_locked(PendingCall* call) {
  std::deque<PendingCall*>& waiting = waiting_locked();
  auto it = std::find(waiting.begin(), waiting.end(), call);
  if (it == waiting.end()) return false;
  waiting.erase(it);
  return true;
}

std::exception_ptr queue_timeout_error(const PendingCall& call) {
  return std::make_exception_ptr(PythonCallQueueTimeout(fmt::format(
      "the Python call did not start within {} ms (its queue_timeout): it never ran",
      call.queue_timeout ? call.queue_timeout->count() : 0)));
}

// --- Start deadlines ---------------------------------------------------------
// One timer per owner, at the earliest deadline of a call that has not
// started. A call moves (waiting here, sent to a worker, given back, sent
// again) only under the owner's mutex, so each time the timer fires it sees
// every such call wherever it is, and sets itself for the next.

void WorkerOwner::watch_start_deadline_locked(const PendingCall& call) {
  if (call.start_by) arm_start_timer_locked(*call.start_by);
}

void WorkerOwner::arm_start_timer_locked(Clock::time_point when) {
  if (start_timer_at_ && *start_timer_at_ <= when) return;
  start_timer_at_ = when;
  // The timer is the I/O thread's: it takes the time set when it gets there.
  asio::post(worker_io(), [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    std::lock_guard guard(self->mutex);
    if (!self->start_timer_at_) return;
    if (!self->start_timer_) self->start_timer_ = std::make_unique<asio::steady_timer>(worker_io());
    self->start_timer_->expires_at(*self->start_timer_at_);
    self->start_timer_->async_wait([weak](const boost::system::error_code& error) {
      if (error) return;
      if (auto owner = weak.lock()) owner->on_start_timer();
    });
  });
}

void WorkerOwner::on_start_timer() {
  catch_up_workers();  // calls that started are not withdrawn
  Completions done;
  {
    std::lock_guard guard(mutex);
    const auto now = Clock::now();
    if (start_timer_at_ && *start_timer_at_ > now) return;  // set later meanwhile: that wait fires then
    start_timer_at_.reset();
    if (auto next = expire_unstarted_locked(now, done)) arm_start_timer_locked(*next);
  }
  run_completions(done);
}

std::optional<Clock::time_point> WorkerOwner::expire_unstarted_locked(Clock::time_point now, Completions& done) {
  std::optional<Clock::time_point> next;
  auto note_next = [&](const PendingCall* call) {
    if (!next || *call->start_by < *next) next = *call->start_by;
  };
  std::deque<PendingCall*>& waiting = waiting_locked();
  for (auto it = waiting.begin(); it != waiting.end();) {
    PendingCall* call = *it;
    if (call->start_overdue(now) && !call->cancelling) {
      done.push_back({call, queue_timeout_error(*call)});
      it = waiting.erase(it);
      continue;
    }
    if (call->start_by && !call->started && !call->cancelling) note_next(call);
    ++it;
  }
  for (auto& worker : workers_locked()) {
    for (PendingCall* call : worker->inflight) {
      if (call->started || !call->start_by || call->cancelling) continue;
      if (!call->start_overdue(now)) {
        note_next(call);
      } else if (!call->withdrawing) {
        // Fails when it comes back unstarted (WorkerProcess::take_answer_locked,
        // or the owner's on_exit); runs if the worker starts it first.
        worker->withdraw_locked(call);
      }
    }
  }
  return next;
}

}  // namespace fray::detail
