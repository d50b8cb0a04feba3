#include "fray/detail/pool_core.hpp"

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "fray/duration_limit.hpp"
#include "fray/python_errors.hpp"

namespace fray::detail {

using Clock = std::chrono::steady_clock;

namespace {
constexpr int kStartFailuresInARow = 3;
}  // namespace

PoolCore::PoolCore(std::shared_ptr<const WorkerLaunch> launch, std::shared_ptr<const void> env_lease,
                   WorkerPoolOptions options)
    : launch_(std::move(launch)), env_lease_(std::move(env_lease)), options_(std::move(options)) {
  max_workers_ = options_.max_workers != 0 ? options_.max_workers : std::max(1u, std::thread::hardware_concurrency());
  if (options_.min_workers > max_workers_) throw InvalidOptions("min_workers is above max_workers");
  if (options_.pipeline_depth == 0) throw InvalidOptions("pipeline_depth must be at least 1");
}

void PoolCore::submit(PendingCall* call) {
  if (!call->timeout) call->timeout = options_.call_timeout;
  if (!call->queue_timeout && options_.call_queue_timeout) call->limit_wait(*options_.call_queue_timeout);
  {
    std::lock_guard guard(mutex);
    if (!closed_) {
      watch_start_deadline_locked(*call);
      if (queue_.empty() && place_locked(call)) return;
      queue_.push_back(call);
      return;
    }
  }
  // Built before fail(), so the temporary is gone when a waiter may drop
  // the last copy on its own thread.
  std::exception_ptr closed = std::make_exception_ptr(TaskCancelled("the Python worker pool is closed"));
  call->fail(std::move(closed));
}

void PoolCore::prestart(std::size_t count) {
  std::lock_guard guard(mutex);
  while (!closed_ && accepting_locked() < std::min(count, max_workers_)) spawn_locked();
}

std::size_t PoolCore::accepting_locked() const {
  return std::size_t(std::count_if(workers_.begin(), workers_.end(), [](const auto& w) { return w->accepting(); }));
}

WorkerProcess& PoolCore::spawn_locked() {
  auto worker = std::make_shared<WorkerProcess>(shared_from_this(), launch_,
                                                fmt::format("{}#{}", options_.name, next_number_++));
  workers_.push_back(worker);
  worker->idle_since = Clock::now();
  worker->start();
  return *worker;
}

bool PoolCore::expected_short_locked(std::size_t route_key) const {
  if (options_.pipeline_threshold == std::chrono::microseconds::max()) return true;
  auto it = expected_.find(route_key);
  return it != expected_.end() && it->second < options_.pipeline_threshold;
}

void PoolCore::send_locked(WorkerProcess& worker, PendingCall* call) {
  call->expected_short = expected_short_locked(call->route_key);
  // While the queue drains, each worker's share goes out in one write.
  worker.send_locked(call, !draining_);
  // Its last call: it exits once it has answered, and a new one takes its place.
  if (options_.max_calls != 0 && worker.calls_sent >= options_.max_calls) worker.close_input_locked();
}

bool PoolCore::place_locked(PendingCall* call) {
  WorkerProcess* least_busy = nullptr;
  std::size_t accepting = 0;
  const auto now = Clock::now();
  for (const auto& worker : workers_) {
    if (!worker->accepting()) continue;
    ++accepting;
    if (worker->inflight.empty()) {
      send_locked(*worker, call);
      return true;
    }
    if (worker->inflight.size() >= options_.pipeline_depth) continue;
    if (least_busy != nullptr && worker->inflight.size() >= least_busy->inflight.size()) continue;
    if (runs_short_locked(*worker, now)) least_busy = worker.get();
  }
  if (accepting < max_workers_) {
    send_locked(spawn_locked(), call);
    return true;
  }
  if (least_busy != nullptr) {
    send_locked(*least_busy, call);
    return true;
  }
  return false;
}

bool PoolCore::runs_short_locked(const WorkerProcess& worker, Clock::time_point now) const {
  const auto threshold = options_.pipeline_threshold;
  if (threshold == std::chrono::microseconds::max()) return true;
  const PendingCall* running = worker.running();
  if (running != nullptr && now - running->started_at >= threshold) return false;
  return std::all_of(worker.inflight.begin(), worker.inflight.end(),
                     [&](const PendingCall* call) { return call->expected_short; });
}

void PoolCore::learn_durations_locked(const Completions& done) {
  if (options_.pipeline_threshold == std::chrono::microseconds::max()) return;
  const auto now = Clock::now();
  if (expected_.size() > 4096) expected_.clear();  // a pool calling ever new names: start over
  for (const Completion& c : done) {
    if (!c.call->started) continue;
    const auto took = now - c.call->started_at;
    auto [it, is_new] = expected_.try_emplace(c.call->route_key, took);
    if (!is_new) it->second = (3 * it->second + took) / 4;
  }
}

void PoolCore::rebalance_locked() {
  if (closed_ || !queue_.empty() || options_.pipeline_threshold == std::chrono::microseconds::max()) return;
  std::size_t idle = std::size_t(std::count_if(workers_.begin(), workers_.end(), [](const auto& w) {
    return w->accepting() && w->inflight.empty();
  }));
  if (idle == 0) return;
  const auto now = Clock::now();
  bool waiting_behind_short = false;
  for (const auto& worker : workers_) {
    const PendingCall* running = worker->running();
    if (running == nullptr || worker->inflight.size() < 2) continue;
    if (now - running->started_at < options_.pipeline_threshold) {
      waiting_behind_short = true;  // it may turn long: look again then
      continue;
    }
    // The newest first: the worker reaches the oldest soonest.
    for (auto it = worker->inflight.rbegin(); it != worker->inflight.rend() && idle > 0; ++it) {
      PendingCall* call = *it;
      if (call->started || call->withdrawing || call->cancelling) continue;
      worker->withdraw_locked(call);
      --idle;
    }
  }
  if (waiting_behind_short && idle > 0) arm_rebalance_timer_locked();
}

void PoolCore::arm_rebalance_timer_locked() {
  if (rebalance_timer_armed_) return;
  rebalance_timer_armed_ = true;
  if (!rebalance_timer_) rebalance_timer_ = std::make_unique<boost::asio::steady_timer>(worker_io());
  rebalance_timer_->expires_after(options_.pipeline_threshold);
  rebalance_timer_->async_wait([weak = std::weak_ptr<WorkerOwner>(shared_from_this())](const boost::system::error_code& error) {
    if (error) return;
    auto self = weak.lock();
    if (!self) return;
    std::lock_guard guard(self->mutex);
    auto& pool = static_cast<PoolCore&>(*self);
    pool.rebalance_timer_armed_ = false;
    pool.rebalance_locked();
  });
}

void PoolCore::drain_queue_locked(Completions& done) {
  if (queue_.empty()) return;
  draining_ = true;
  const auto now = Clock::now();
  while (!queue_.empty()) {
    PendingCall* call = queue_.front();
    if (call->start_overdue(now)) {
      // Past its queue timeout before the start timer got to it: never sent.
      done.push_back({call, queue_timeout_error(*call)});
    } else if (!place_locked(call)) {
      break;
    }
    queue_.pop_front();
  }
  draining_ = false;
  for (const auto& worker : workers_) worker->flush_locked();
}

void PoolCore::on_answered(WorkerProcess& worker, Completions& done) {
  start_failures_ = 0;  // a worker runs calls: the interpreter is fine
  learn_durations_locked(done);
  drain_queue_locked(done);
  if (worker.inflight.empty()) {
    rebalance_locked();
    if (worker.inflight.empty()) arm_idle_timer_locked();
  }
}

void PoolCore::on_looked(WorkerProcess&) { rebalance_locked(); }

void PoolCore::on_withdrawn(WorkerProcess&, PendingCall* call, Completions& done) {
  if (closed_) {
    done.push_back({call, std::make_exception_ptr(TaskCancelled("the Python worker pool was closed"))});
    return;
  }
  if (queue_.empty() && place_locked(call)) return;
  queue_.push_front(call);
}

std::exception_ptr PoolCore::running_call_error_locked(const WorkerProcess& worker, const WorkerExit& exit,
                                                       PendingCall* call) {
  switch (exit.cause) {
    case WorkerExit::Cause::timeout:
      return std::make_exception_ptr(PythonCallTimeout(fmt::format(
          "the Python call did not finish within {} ms: its worker {} (pid {}) was killed and will be replaced",
          call->timeout ? call->timeout->count() : 0, worker.label(), exit.pid)));
    case WorkerExit::Cause::cancel:
      return std::make_exception_ptr(TaskCancelled(fmt::format(
          "the Python call was cancelled and did not stop within the grace period: its worker {} (pid {}) was killed",
          worker.label(), exit.pid)));
    case WorkerExit::Cause::shutdown:
      return std::make_exception_ptr(TaskCancelled("the Python worker pool was closed"));
    default:
      if (call->cancelling) return std::make_exception_ptr(TaskCancelled("the Python call was cancelled while it ran"));
      if (!closed_ && call->take_retry()) return nullptr;  // runs again
      return std::make_exception_ptr(
          WorkerCrashed(crash_message(worker.label(), exit), exit.pid, exit.exit_code, exit.signal, exit.last_stderr));
  }
}

void PoolCore::on_exit(WorkerProcess& worker, const WorkerExit& exit, Unfinished unfinished, Completions& done) {
  std::erase_if(workers_, [&](const auto& w) { return w.get() == &worker; });
  // What goes back to the front of the queue, in order.
  std::deque<PendingCall*> again;
  if (PendingCall* running = unfinished.running) {
    if (std::exception_ptr error = running_call_error_locked(worker, exit, running)) {
      done.push_back({running, std::move(error)});
    } else {
      again.push_back(running);
    }
  }
  const auto now = Clock::now();
  for (PendingCall* call : unfinished.not_started) {
    if (call->cancelling) {
      done.push_back({call, std::make_exception_ptr(TaskCancelled("the Python call was cancelled before it started"))});
    } else if (call->start_overdue(now)) {
      done.push_back({call, queue_timeout_error(*call)});
    } else if (closed_) {
      done.push_back({call, std::make_exception_ptr(TaskCancelled("the Python worker pool was closed"))});
    } else if (!exit.launch_error.empty()) {
      done.push_back({call, std::make_exception_ptr(WorkerCrashed(crash_message(worker.label(), exit), exit.pid,
                                                                  exit.exit_code, exit.signal, exit.last_stderr))});
    } else {
      again.push_back(call);  // it never ran: no attempt spent
    }
  }
  // A worker that dies before it starts any call would be replaced, and the
  // calls sent again, forever: after a few in a row, the calls fail.
  if (exit.calls_started > 0) {
    start_failures_ = 0;
  } else if (!again.empty() && exit.cause == WorkerExit::Cause::none && ++start_failures_ >= kStartFailuresInARow) {
    start_failures_ = 0;
    std::exception_ptr error = std::make_exception_ptr(WorkerCrashed(
        fmt::format("{} ({} workers in a row exited before they started a call)", crash_message(worker.label(), exit),
                    kStartFailuresInARow),
        exit.pid, exit.exit_code, exit.signal, exit.last_stderr));
    for (PendingCall* call : again) done.push_back({call, error});
    for (PendingCall* call : queue_) done.push_back({call, error});
    again.clear();
    queue_.clear();
  }
  queue_.insert(queue_.begin(), again.begin(), again.end());
  if (closed_) {
    if (workers_.empty()) all_exited_.notify_all();
    release_env_if_done_locked();
    return;
  }
  drain_queue_locked(done);
  // Keep the prestarted ones; not after a worker that could not start,
  // whose replacement would fail the same way, over and over.
  if (exit.launch_error.empty() && (exit.cause == WorkerExit::Cause::none || exit.cause == WorkerExit::Cause::retire) &&
      start_failures_ == 0) {
    while (accepting_locked() < options_.min_workers) spawn_locked();
  }
}

void PoolCore::on_log(const WorkerLogLine& line) {
  if (options_.on_log) {
    options_.on_log(line);
  } else {
    log_to_stderr(line);
  }
}

void PoolCore::arm_idle_timer_locked() {
  if (idle_timer_armed_ || options_.idle_timeout.count() <= 0 || closed_) return;
  if (accepting_locked() <= options_.min_workers) return;
  idle_timer_armed_ = true;
  // On the I/O thread (answers arrive there), so the timer is only touched there.
  if (!idle_timer_) idle_timer_ = std::make_unique<boost::asio::steady_timer>(worker_io());
  idle_timer_->expires_after(clamp_duration<Clock::duration>(options_.idle_timeout));
  idle_timer_->async_wait([weak = std::weak_ptr<WorkerOwner>(shared_from_this())](const boost::system::error_code& error) {
    if (error) return;
    if (auto self = weak.lock()) static_cast<PoolCore&>(*self).on_idle_timer();
  });
}

void PoolCore::on_idle_timer() {
  std::lock_guard guard(mutex);
  idle_timer_armed_ = false;
  if (closed_) return;
  const auto now = Clock::now();
  std::size_t accepting = accepting_locked();
  bool still_idle = false;
  for (const auto& worker : workers_) {
    if (accepting <= options_.min_workers) break;
    if (!worker->accepting() || !worker->inflight.empty()) continue;
    if (now - worker->idle_since >= clamp_duration<Clock::duration>(options_.idle_timeout)) {
      worker->close_input_locked();  // it exits at end of file
      --accepting;
    } else {
      still_idle = true;
    }
  }
  if (still_idle) arm_idle_timer_locked();
}

std::size_t PoolCore::live_workers() {
  std::lock_guard guard(mutex);
  return workers_.size();
}

std::vector<int> PoolCore::worker_pids() {
  std::lock_guard guard(mutex);
  std::vector<int> pids;
  for (const auto& worker : workers_) {
    if (worker->pid() > 0) pids.push_back(worker->pid());
  }
  return pids;
}

void PoolCore::close() noexcept {
  Completions done;
  {
    std::lock_guard guard(mutex);
    if (closed_) return;
    closed_ = true;
    for (PendingCall* call : queue_) {
      done.push_back({call, std::make_exception_ptr(TaskCancelled("the Python worker pool was closed"))});
    }
    queue_.clear();
    for (const auto& worker : workers_) {
      if (worker->inflight.empty()) {
        worker->close_input_locked();  // an idle worker ends on its own
      } else {
        worker->kill_locked(WorkerExit::Cause::shutdown);
      }
    }
    for (auto* timer : {idle_timer_.get(), rebalance_timer_.get()}) {
      if (timer != nullptr) boost::asio::post(worker_io(), [timer, self = shared_from_this()] { timer->cancel(); });
    }
    release_env_if_done_locked();
  }
  run_completions(done);
  if (on_worker_io_thread()) return;  // waiting here would block what we wait for
  std::unique_lock lock(mutex);
  // User code that ignores end of file (a thread it started, say) gets killed.
  if (!all_exited_.wait_for(lock, std::chrono::seconds(2), [this] { return workers_.empty(); })) {
    for (const auto& worker : workers_) worker->kill_locked(WorkerExit::Cause::shutdown);
    all_exited_.wait(lock, [this] { return workers_.empty(); });
  }
  release_env_if_done_locked();
}

void PoolCore::release_env_if_done_locked() {
  // No worker runs in the env any more, and none will start.
  if (closed_ && workers_.empty()) env_lease_.reset();
}

}  // namespace fray::detail
