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
  queue_.push(work);
  poke_parked_helper();
  wake_one_if_idle();
}

bool ThreadPool::has_queued_work() const noexcept {
  return queue_.might_have_work() || has_returned_.load(std::memory_order_seq_cst);
}

void ThreadPool::poke_parked_helper() noexcept {
  // Pairs with help_until(): a helper counts itself parked before its last
  // look at the queue, so either it sees the work or we see it parked.
  if (parked_helper_count_.load(std::memory_order_seq_cst) == 0) return;
  // A worker blocked in get() with nothing to help with: it can run this.
  std::lock_guard guard(mutex_);
  if (!parked_helpers_.empty()) parked_helpers_.back()->poke();
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
  if (has_returned_.load(std::memory_order_acquire) && take_returned(local)) return true;
  if (!queue_.might_have_work()) return false;
  bool more_left;
  {
    std::lock_guard guard(consumer_mutex_);
    const std::size_t share = queue_.approximate_size() / (2 * threads_.size());
    const std::size_t take = std::clamp<std::size_t>(share, 1, kMaxBatch);
    for (std::size_t i = 0; i < take; ++i) {
      Work* work = queue_.pop();
      if (work == nullptr) break;
      local.batch.push(work);
    }
    more_left = queue_.approximate_size() > 0;
  }
  if (more_left) wake_one_if_idle();
  return local.batch.head != nullptr;
}

bool ThreadPool::take_returned(Local& local) noexcept {
  std::lock_guard guard(mutex_);
  if (returned_.head == nullptr) return false;
  local.batch = returned_;
  returned_ = WorkList{};
  has_returned_.store(false, std::memory_order_seq_cst);
  return true;
}

void ThreadPool::return_batch(Local& local) noexcept {
  if (local.batch.head == nullptr) return;
  {
    std::lock_guard guard(mutex_);
    local.batch.tail->next_work = returned_.head;
    returned_.head = local.batch.head;
    if (returned_.tail == nullptr) returned_.tail = local.batch.tail;
    returned_.size += local.batch.size;
    has_returned_.store(true, std::memory_order_seq_cst);
  }
  local.batch = WorkList{};
  poke_parked_helper();
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
      found = has_queued_work() || stopping_.load(std::memory_order_relaxed);
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
    if (stopping_.load(std::memory_order_acquire) && !has_queued_work()) break;
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
    if (spin_briefly([&] { return signal.is_set() || has_queued_work(); })) continue;
    // Nothing to help with: sleep until the result or new work arrives.
    park_helper(signal);
    if (!has_queued_work()) signal.wait_until_set_or_poked(deadline);
    unpark_helper(signal);
  }
  --local->help_depth;
  return signal.is_set();
}

void ThreadPool::park_helper(Signal& signal) noexcept {
  std::lock_guard guard(mutex_);
  parked_helpers_.push_back(&signal);
  parked_helper_count_.fetch_add(1, std::memory_order_seq_cst);
}

void ThreadPool::unpark_helper(Signal& signal) noexcept {
  std::lock_guard guard(mutex_);
  std::erase(parked_helpers_, &signal);
  parked_helper_count_.fetch_sub(1, std::memory_order_seq_cst);
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
