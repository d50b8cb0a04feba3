#include "fray/detail/pool_core.hpp"

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "fray/python_errors.hpp"

namespace fray::detail {

using Clock = std::chrono::steady_clock;

PoolCore::PoolCore(std::shared_ptr<const WorkerLaunch> launch, std::shared_ptr<const void> env_lease,
                   WorkerPoolOptions options)
    : launch_(std::move(launch)), env_lease_(std::move(env_lease)), options_(std::move(options)) {
  max_workers_ = options_.max_workers != 0 ? options_.max_workers : std::max(1u, std::thread::hardware_concurrency());
  if (options_.min_workers > max_workers_) throw InvalidOptions("min_workers is above max_workers");
  if (options_.pipeline_depth == 0) throw InvalidOptions("pipeline_depth must be at least 1");
}

void PoolCore::submit(PendingCall* call) {
  if (!call->timeout) call->timeout = options_.call_timeout;
  {
    std::lock_guard guard(mutex);
    if (!closed_) {
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

void PoolCore::send_locked(WorkerProcess& worker, PendingCall* call) {
  // While the queue drains, each worker's share goes out in one write.
  worker.send_locked(call, !draining_);
  // Its last call: it exits once it has answered, and a new one takes its place.
  if (options_.max_calls != 0 && worker.calls_sent >= options_.max_calls) worker.close_input_locked();
}

bool PoolCore::place_locked(PendingCall* call) {
  WorkerProcess* least_busy = nullptr;
  std::size_t accepting = 0;
  for (const auto& worker : workers_) {
    if (!worker->accepting()) continue;
    ++accepting;
    if (worker->inflight.empty()) {
      send_locked(*worker, call);
      return true;
    }
    if (least_busy == nullptr || worker->inflight.size() < least_busy->inflight.size()) least_busy = worker.get();
  }
  if (accepting < max_workers_) {
    send_locked(spawn_locked(), call);
    return true;
  }
  if (least_busy != nullptr && least_busy->inflight.size() < options_.pipeline_depth) {
    send_locked(*least_busy, call);
    return true;
  }
  return false;
}

void PoolCore::drain_queue_locked() {
  if (queue_.empty()) return;
  draining_ = true;
  while (!queue_.empty() && place_locked(queue_.front())) queue_.pop_front();
  draining_ = false;
  for (const auto& worker : workers_) worker->flush_locked();
}

void PoolCore::on_answered(WorkerProcess& worker, Completions&) {
  drain_queue_locked();
  if (worker.inflight.empty()) arm_idle_timer_locked();
}

void PoolCore::on_exit(WorkerProcess& worker, const WorkerExit& exit, std::deque<PendingCall*> unanswered,
                       Completions& done) {
  std::erase_if(workers_, [&](const auto& w) { return w.get() == &worker; });
  if (!unanswered.empty()) {
    // Answers come in order, so only the first call had started; the rest
    // never ran and go back to the front of the queue.
    PendingCall* head = unanswered.front();
    unanswered.pop_front();
    std::exception_ptr error;
    switch (exit.cause) {
      case WorkerExit::Cause::timeout:
        error = std::make_exception_ptr(PythonCallTimeout(fmt::format(
            "the Python call did not finish within {} ms: its worker {} (pid {}) was killed and will be replaced",
            head->timeout ? head->timeout->count() : 0, worker.label(), exit.pid)));
        break;
      case WorkerExit::Cause::cancel:
        error = std::make_exception_ptr(TaskCancelled(fmt::format(
            "the Python call was cancelled and did not stop within the grace period: its worker {} (pid {}) was killed",
            worker.label(), exit.pid)));
        break;
      case WorkerExit::Cause::shutdown:
        error = std::make_exception_ptr(TaskCancelled("the Python worker pool was closed"));
        break;
      default:
        if (!closed_ && head->take_retry()) {
          unanswered.push_front(head);
        } else {
          error = std::make_exception_ptr(
              WorkerCrashed(crash_message(worker.label(), exit), exit.pid, exit.exit_code, exit.signal, exit.last_stderr));
        }
        break;
    }
    if (error) done.push_back({head, error});
    for (auto it = unanswered.rbegin(); it != unanswered.rend(); ++it) {
      if (closed_) {
        done.push_back({*it, std::make_exception_ptr(TaskCancelled("the Python worker pool was closed"))});
      } else {
        queue_.push_front(*it);
      }
    }
  }
  if (closed_) {
    if (workers_.empty()) all_exited_.notify_all();
    release_env_if_done_locked();
    return;
  }
  drain_queue_locked();
  // Keep the prestarted ones; not after a worker that could not start,
  // whose replacement would fail the same way, over and over.
  if (exit.launch_error.empty() && (exit.cause == WorkerExit::Cause::none || exit.cause == WorkerExit::Cause::retire)) {
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

bool PoolCore::unqueue_locked(PendingCall* call) {
  auto it = std::find(queue_.begin(), queue_.end(), call);
  if (it == queue_.end()) return false;
  queue_.erase(it);
  return true;
}

void PoolCore::arm_idle_timer_locked() {
  if (idle_timer_armed_ || options_.idle_timeout.count() <= 0 || closed_) return;
  if (accepting_locked() <= options_.min_workers) return;
  idle_timer_armed_ = true;
  // On the I/O thread (answers arrive there), so the timer is only touched there.
  if (!idle_timer_) idle_timer_ = std::make_unique<boost::asio::steady_timer>(worker_io());
  idle_timer_->expires_after(options_.idle_timeout);
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
    if (now - worker->idle_since >= options_.idle_timeout) {
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
    if (idle_timer_) {
      boost::asio::post(worker_io(), [timer = idle_timer_.get(), self = shared_from_this()] { timer->cancel(); });
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
