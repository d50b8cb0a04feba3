#include "fray/detail/thread_pool.hpp"

#include <algorithm>

#include "fray/detail/cpu_relax.hpp"

namespace fray::detail {

namespace {
// Idle workers spin this long before sleeping: long enough to catch the next
// task of a driver that submits one at a time, short enough to be free.
constexpr auto kIdleSpin = std::chrono::microseconds(50);
constexpr int kMaxSpinners = 1;
constexpr std::size_t kMaxBatch = 64;
// A blocking get inside a task helps run other tasks; past this nesting it
// just waits, so the stack stays bounded.
constexpr int kMaxHelpDepth = 64;
}  // namespace

void ThreadPool::WorkList::push(Work* work) noexcept {
  work->next_work = nullptr;
  if (tail != nullptr) {
    tail->next_work = work;
  } else {
    head = work;
  }
  tail = work;
  ++size;
}

Work* ThreadPool::WorkList::pop() noexcept {
  Work* work = head;
  if (work == nullptr) return nullptr;
  head = work->next_work;
  if (head == nullptr) tail = nullptr;
  --size;
  return work;
}

ThreadPool::Local*& ThreadPool::current_local() noexcept {
  thread_local Local* local = nullptr;
  return local;
}

ThreadPool::ThreadPool(std::size_t threads, std::function<void()> on_thread_start) {
  threads = std::max<std::size_t>(threads, 1);
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this, on_thread_start] { worker_main(on_thread_start); });
  }
}

ThreadPool::~ThreadPool() { stop(); }

void ThreadPool::post(Work* work) noexcept {
  {
    std::lock_guard guard(mutex_);
    queue_.push(work);
    queued_.store(queue_.size, std::memory_order_seq_cst);
    // A worker blocked in get() with nothing to help with: it can run this.
    if (!parked_helpers_.empty()) parked_helpers_.back()->poke();
  }
  wake_one_if_idle();
}

void ThreadPool::wake_one_if_idle() noexcept {
  // Pairs with park(): a worker counts itself asleep before its last look
  // at the queue, so either it sees the work or we see it asleep.
  // One wake-up in flight at a time: a woken worker takes a while to be
  // scheduled here, and waking it again meanwhile is a wasted system call.
  if (spinners_.load(std::memory_order_seq_cst) == 0 && sleepers_.load(std::memory_order_seq_cst) > 0 &&
      !wake_pending_.exchange(true, std::memory_order_seq_cst)) {
    wake_epoch_.fetch_add(1, std::memory_order_seq_cst);
    wake_epoch_.notify_one();
  }
}

bool ThreadPool::take_batch(Local& local) noexcept {
  if (queued_.load(std::memory_order_relaxed) == 0) return false;
  std::size_t left;
  {
    std::lock_guard guard(mutex_);
    if (queue_.size == 0) return false;
    const std::size_t share = queue_.size / (2 * threads_.size());
    const std::size_t take = std::clamp<std::size_t>(share, 1, kMaxBatch);
    for (std::size_t i = 0; i < take; ++i) local.batch.push(queue_.pop());
    left = queue_.size;
    queued_.store(left, std::memory_order_seq_cst);
  }
  if (left > 0) wake_one_if_idle();
  return true;
}

void ThreadPool::return_batch(Local& local) noexcept {
  if (local.batch.head == nullptr) return;
  {
    std::lock_guard guard(mutex_);
    local.batch.tail->next_work = queue_.head;
    queue_.head = local.batch.head;
    if (queue_.tail == nullptr) queue_.tail = local.batch.tail;
    queue_.size += local.batch.size;
    queued_.store(queue_.size, std::memory_order_seq_cst);
    if (!parked_helpers_.empty()) parked_helpers_.back()->poke();
  }
  local.batch = WorkList{};
  wake_one_if_idle();
}

Work* ThreadPool::next_work(Local& local) noexcept {
  if (Work* work = local.batch.pop()) return work;
  if (take_batch(local)) return local.batch.pop();
  return nullptr;
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
      found = queued_.load(std::memory_order_relaxed) > 0 || stopping_.load(std::memory_order_relaxed);
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
  if (queued_.load(std::memory_order_seq_cst) == 0 && !stopping_.load(std::memory_order_seq_cst)) {
    wake_epoch_.wait(epoch, std::memory_order_seq_cst);
  }
  sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  wake_pending_.store(false, std::memory_order_seq_cst);
}

void ThreadPool::worker_main(std::function<void()> on_thread_start) {
  Local local;
  current_local() = &local;
  current_blocking_helper() = this;
  if (on_thread_start) on_thread_start();
  for (;;) {
    if (Work* work = next_work(local)) {
      work->run();
      continue;
    }
    if (stopping_.load(std::memory_order_acquire) && queued_.load(std::memory_order_acquire) == 0) break;
    if (spin_for_work()) {
      // Hand the spinning role on before running what we found, so that
      // submitters keep finding a spinner and never pay for a wake-up.
      wake_one_if_idle();
      continue;
    }
    park();
  }
  current_blocking_helper() = nullptr;
  current_local() = nullptr;
}

bool ThreadPool::help_until(Signal& signal, const Deadline& deadline) {
  Local* local = current_local();
  if (local == nullptr || local->help_depth >= kMaxHelpDepth) {
    // Too deep to help: give back the batch this worker holds (what we wait
    // for may be in it) so the other workers can run it, then just wait.
    if (local != nullptr) return_batch(*local);
    if (spin_briefly([&] { return signal.is_set(); })) return true;
    return signal.wait_until(deadline);
  }
  ++local->help_depth;
  while (!signal.is_set()) {
    if (Work* work = next_work(*local)) {
      work->run();
      continue;
    }
    if (deadline && Clock::now() >= *deadline) break;
    if (spin_briefly([&] { return signal.is_set() || queued_.load(std::memory_order_relaxed) > 0; })) continue;
    // Nothing to help with: sleep until the result or new work arrives.
    {
      std::lock_guard guard(mutex_);
      if (queue_.size > 0) continue;
      parked_helpers_.push_back(&signal);
    }
    signal.wait_until_set_or_poked(deadline);
    {
      std::lock_guard guard(mutex_);
      std::erase(parked_helpers_, &signal);
    }
  }
  --local->help_depth;
  return signal.is_set();
}

void ThreadPool::stop() noexcept {
  if (stopping_.exchange(true)) {
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
    return;
  }
  wake_epoch_.fetch_add(1, std::memory_order_seq_cst);
  wake_epoch_.notify_all();
  for (auto& thread : threads_) thread.join();
}

}  // namespace fray::detail
