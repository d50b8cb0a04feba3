#include "fray/detail/thread_pool.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "fray/detail/blocked_call.hpp"
#include "fray/detail/cpu_relax.hpp"
#include "fray/detail/suspension.hpp"
#include "fray/errors.hpp"

namespace fray::detail {

namespace {
// Idle workers spin this long before sleeping: long enough to catch the next
// task of a driver that submits one at a time, short enough to be free.
constexpr auto kIdleSpin = std::chrono::microseconds(50);
constexpr int kMaxSpinners = 1;
constexpr std::size_t kMaxBatch = 64;

struct CurrentWorker {
  const void* pool = nullptr;
  void* worker = nullptr;
};
CurrentWorker& current_worker() noexcept {
  thread_local CurrentWorker current;
  return current;
}
}  // namespace

ThreadPool::ThreadPool(ThreadPoolOptions options, std::function<void()> on_thread_start)
    : options_{std::max<std::size_t>(options.threads, 1), options.max_extra_threads,
               std::max<std::size_t>(options.stack_bytes, 256 * 1024)},
      on_thread_start_(std::move(on_thread_start)),
      workers_(std::make_unique<Worker[]>(options_.threads + options_.max_extra_threads)) {
  std::lock_guard guard(spare_mutex_);
  for (std::size_t i = 0; i < options_.threads; ++i) start_worker_locked();
  active_ = options_.threads;
}

ThreadPool::~ThreadPool() { stop(); }

void ThreadPool::start_worker_locked() {
  const std::size_t index = started_.load(std::memory_order_relaxed);
  Worker& worker = workers_[index];
  worker.pool = this;
  worker.index = index;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  // Big stacks: a blocked thread may run the task it waits for on top of
  // itself, level after level (only touched pages cost memory).
  pthread_attr_setstacksize(&attr, options_.stack_bytes);
  const int error = pthread_create(&worker.thread, &attr, &ThreadPool::thread_main, &worker);
  pthread_attr_destroy(&attr);
  if (error != 0) throw std::system_error(error, std::generic_category(), "fray: cannot start a pool thread");
  // Published after the worker is set up, for stealers scanning queues.
  started_.store(index + 1, std::memory_order_release);
}

void* ThreadPool::thread_main(void* argument) noexcept {
  auto& worker = *static_cast<Worker*>(argument);
  worker.pool->worker_loop(worker);
  return nullptr;
}

void ThreadPool::post(Work* work) noexcept {
  CurrentWorker& current = current_worker();
  if (current.pool == this && static_cast<Worker*>(current.worker)->queue.push(work)) {
    wake_one_if_idle();
    return;
  }
  injected_count_.fetch_add(1, std::memory_order_relaxed);
  injected_.push(work);
  if (stopped_.load(std::memory_order_seq_cst)) return run_after_stop();
  wake_one_if_idle();
}

void ThreadPool::run_after_stop() noexcept {
  // The threads are gone: whoever posts runs what is queued (it sees the
  // runtime stopping and finishes as cancelled).
  std::lock_guard guard(inject_consumer_);
  while (injected_.might_have_work()) {
    if (Work* work = injected_.pop()) work->run();
  }
}

bool ThreadPool::has_queued_work() const noexcept {
  if (injected_.might_have_work()) return true;
  const std::size_t started = started_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < started; ++i) {
    if (!workers_[i].queue.looks_empty()) return true;
  }
  return false;
}

void ThreadPool::wake_one_if_idle() noexcept {
  // Pairs with park(): a worker counts itself asleep before its last look
  // at the queues, so either it sees the work or we see it asleep.
  // One wake-up in flight at a time: a woken worker takes a while to be
  // scheduled here, and waking it again meanwhile is a wasted system call.
  if (spinners_.load(std::memory_order_seq_cst) == 0 && sleepers_.load(std::memory_order_seq_cst) > 0 &&
      !wake_pending_.exchange(true, std::memory_order_seq_cst)) {
    wake_epoch_.fetch_add(1, std::memory_order_seq_cst);
    wake_epoch_.notify_one();
  }
}

Work* ThreadPool::take_injected(Worker& self) noexcept {
  if (!injected_.might_have_work()) return nullptr;
  std::unique_lock guard(inject_consumer_, std::try_to_lock);
  if (!guard.owns_lock()) return nullptr;  // another worker is taking; steal from it instead
  const std::size_t queued = injected_count_.load(std::memory_order_relaxed) - taken_count_;
  const std::size_t take =
      std::min(std::clamp<std::size_t>(queued / (2 * options_.threads), 1, kMaxBatch), self.queue.room() + 1);
  Work* first = injected_.pop();
  if (first == nullptr) return nullptr;
  ++taken_count_;
  // The rest of the batch goes to our own queue, where idle workers can
  // take it: nothing is kept out of their reach.
  for (std::size_t i = 1; i < take; ++i) {
    Work* work = injected_.pop();
    if (work == nullptr) break;
    ++taken_count_;
    self.queue.push(work);  // room was checked: only we push to it
  }
  const bool more_left = injected_.might_have_work();
  guard.unlock();
  if (more_left || !self.queue.looks_empty()) wake_one_if_idle();
  return first;
}

Work* ThreadPool::steal(Worker& self) noexcept {
  const std::size_t started = started_.load(std::memory_order_acquire);
  for (std::size_t step = 1; step < started; ++step) {
    Worker& victim = workers_[(self.index + step) % started];
    if (Work* work = victim.queue.pop()) return work;
  }
  return nullptr;
}

Work* ThreadPool::next_work(Worker& self) noexcept {
  if (Work* work = self.queue.pop()) return work;
  if (Work* work = take_injected(self)) return work;
  return steal(self);
}

bool ThreadPool::spin_for_work() noexcept {
  if (spinners_.fetch_add(1, std::memory_order_seq_cst) >= kMaxSpinners) {
    spinners_.fetch_sub(1, std::memory_order_seq_cst);
    return false;
  }
  const auto until = Clock::now() + kIdleSpin;
  bool found = false;
  while (!found) {
    for (int i = 0; i < 64 && !found; ++i) {
      // The shared queue (where a driver posts) at every round, the
      // workers' own queues at every eighth: a driver's next task is seen
      // as soon as it is posted.
      found = injected_.might_have_work() || ((i & 7) == 0 && has_queued_work()) ||
              stopping_.load(std::memory_order_relaxed);
      cpu_relax();
    }
    if (found || Clock::now() >= until) break;
    // Let a runnable submitter have the core: on a machine with as many
    // workers as cores, the driver is the one we are waiting for.
    std::this_thread::yield();
  }
  spinners_.fetch_sub(1, std::memory_order_seq_cst);
  return found;
}

void ThreadPool::park() noexcept {
  const std::uint32_t epoch = wake_epoch_.load(std::memory_order_seq_cst);
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  // A wake-up still marked in flight may have gone to a worker that left
  // already; let the next submitter wake us.
  wake_pending_.store(false, std::memory_order_seq_cst);
  if (!has_queued_work() && !stopping_.load(std::memory_order_seq_cst)) {
    wake_epoch_.wait(epoch, std::memory_order_seq_cst);
  }
  sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  wake_pending_.store(false, std::memory_order_seq_cst);
}

bool ThreadPool::retire_if_surplus(Worker& self) {
  std::unique_lock guard(spare_mutex_);
  if (active_ <= options_.threads || stopping_.load(std::memory_order_acquire)) return false;
  // More threads can run tasks than the pool's size (blocked ones came
  // back): this one waits as a spare until a blocked call needs it.
  --active_;
  self.spare_woken = false;
  spares_.push_back(&self);
  spare_wake_.wait(guard, [&] { return self.spare_woken || stopping_.load(std::memory_order_acquire); });
  if (!self.spare_woken) std::erase(spares_, &self);  // stopping
  return true;
}

void ThreadPool::worker_loop(Worker& self) {
  CurrentWorker& current = current_worker();
  current.pool = this;
  current.worker = &self;
  ScopedBlocker blocker(this);
  if (on_thread_start_) on_thread_start_();
  for (;;) {
    if (Work* work = next_work(self)) {
      work->run();
      continue;
    }
    if (stopping_.load(std::memory_order_acquire) && !has_queued_work()) break;
    if (retire_if_surplus(self)) continue;
    if (spin_for_work()) {
      // Hand the spinning role on before running what we found, so that
      // submitters keep finding a spinner and never pay for a wake-up.
      wake_one_if_idle();
      continue;
    }
    park();
  }
  current = CurrentWorker{};
}

// ---- Blocking inside a task ---------------------------------------------

ThreadPool::BlockedThread::BlockedThread(ThreadPool& pool, StateBase* task) : pool_(pool), task_(task) {
  late_cancel_ = pool_.enter_blocked(task_);
}
ThreadPool::BlockedThread::~BlockedThread() { pool_.leave_blocked(task_); }

std::optional<CancelReason> ThreadPool::enter_blocked(StateBase* task) {
  std::lock_guard guard(spare_mutex_);
  if (task != nullptr) blocked_tasks_.push_back(task);
  const std::optional<CancelReason> late_cancel = task != nullptr ? cancel_blocked_ : std::nullopt;
  --active_;
  if (active_ >= options_.threads) return late_cancel;
  if (!spares_.empty()) {
    Worker* spare = spares_.back();
    spares_.pop_back();
    spare->spare_woken = true;
    ++active_;
    spare_wake_.notify_all();
    return late_cancel;
  }
  if (started_.load(std::memory_order_relaxed) < options_.threads + options_.max_extra_threads &&
      !stopping_.load(std::memory_order_acquire)) {
    try {
      start_worker_locked();
      ++active_;
      return late_cancel;
    } catch (const std::system_error&) {
      // No thread to be had (a system limit): carry on with fewer.
    }
  }
  if (active_ == 0) {
    ++active_;
    if (task != nullptr) blocked_tasks_.pop_back();
    throw TooManyBlockedTasks(fmt::format(
        "a blocking get/wait inside a task would leave no thread to run tasks: all {} pool threads and the {} extra "
        "threads started for blocked tasks are blocked (RuntimeOptions::max_extra_threads); co_await the future "
        "instead, or raise the limit",
        options_.threads, started_.load(std::memory_order_relaxed) - options_.threads));
  }
  return late_cancel;
}

void ThreadPool::leave_blocked(StateBase* task) noexcept {
  std::lock_guard guard(spare_mutex_);
  if (task != nullptr) std::erase(blocked_tasks_, task);
  ++active_;  // a surplus thread retires at its next idle moment
}

void ThreadPool::cancel_blocked_tasks(CancelReason reason) noexcept {
  std::vector<StateBase*> blocked;
  {
    // Under the lock, every listed task is still blocked, so still alive.
    std::lock_guard guard(spare_mutex_);
    cancel_blocked_ = reason;
    for (StateBase* task : blocked_tasks_) {
      task->add_ref();
      blocked.push_back(task);
    }
  }
  cancel_pinned(blocked, reason);
}

bool ThreadPool::help(const BlockRequest& request) noexcept {
  // Only what the caller waits for, and only without a deadline (the task
  // run here could outlast it).
  if (request.deadline) return false;
  // Round after round while something ran: what ran may have queued the
  // next thing we wait for (a coroutine's children, a dependency's dependent).
  for (bool ran = true; ran;) {
    ran = false;
    for (StateBase* state : request.helpable) {
      if (state != nullptr && !state->is_ready()) ran = state->run_here(*this, 0) || ran;
      if (request.signal.is_set()) return true;
    }
  }
  return false;
}

bool ThreadPool::block(const BlockRequest& request) {
  Signal& signal = request.signal;
  if (signal.is_set()) return true;
  const TaskScope scope = current_task_scope();
  CancelWake wake(request.cancellable ? scope.task : nullptr, signal, request.helpable);
  if (!wake.armed()) return false;  // cancelled already: the caller throws TaskCancelled
  if (help(request)) return true;
  LentCpu lent(request.lends ? scope.lease : nullptr);
  // Lending may have let what we wait for in: it may be ours to run now.
  if (help(request)) return true;
  if (spin_briefly([&] { return signal.is_set() || wake.cancelled(); })) return signal.is_set();
  BlockedThread blocked(*this, request.cancellable ? scope.task : nullptr);
  if (const auto reason = blocked.late_cancel()) scope.task->request_cancel(*reason);
  while (!signal.wait_until_set_or_poked(request.deadline)) {
    if (wake.cancelled()) return false;
    if (request.deadline && Clock::now() >= *request.deadline) return false;
  }
  return true;
}

void ThreadPool::stop() noexcept {
  {
    std::lock_guard guard(spare_mutex_);
    if (joined_) return;
    joined_ = true;
    stopping_.store(true, std::memory_order_seq_cst);
    spare_wake_.notify_all();
  }
  wake_epoch_.fetch_add(1, std::memory_order_seq_cst);
  wake_epoch_.notify_all();
  const std::size_t started = started_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < started; ++i) pthread_join(workers_[i].thread, nullptr);
  stopped_.store(true, std::memory_order_seq_cst);
  run_after_stop();
}

}  // namespace fray::detail
