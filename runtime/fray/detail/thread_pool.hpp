// The thread-pool executor. Each worker has its own queue (LocalQueue) that
// idle workers steal from; work posted from outside the pool goes to one
// shared injection queue (MpscQueue) that workers take small batches from
// into their own queues. Idle workers spin briefly before sleeping (a futex
// wake costs tens of microseconds here), at most one at a time.
//
// Blocking inside a task (get, wait, a stream's next_blocking): the thread
// never runs unrelated work on its stack. It may run the very task it waits
// for if that is still queued (and, recursively, the tasks that one waits
// for), while its stack has room; its task lends its cpu meanwhile.
// Otherwise it parks, and the pool keeps `size()` threads able to run
// tasks: it wakes a spare or starts a new thread, up to `max_extra_threads`
// beyond `size()`. Past that bound, a blocking call that would leave no
// thread to run tasks throws TooManyBlockedTasks instead of hanging. Spare
// threads go back to sleep when the blocked ones return.
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "fray/detail/blocking.hpp"
#include "fray/detail/local_queue.hpp"
#include "fray/detail/mpsc_queue.hpp"
#include "fray/executor.hpp"

namespace fray::detail {

struct ThreadPoolOptions {
  std::size_t threads = 1;
  std::size_t max_extra_threads = 256;
  std::size_t stack_bytes = 64 * 1024 * 1024;
};

class ThreadPool final : public Executor, public Blocker {
 public:
  // `on_thread_start` runs first on every worker (to set thread-locals).
  ThreadPool(ThreadPoolOptions options, std::function<void()> on_thread_start);
  ~ThreadPool() override;

  void post(Work* work) noexcept override;
  bool block(const BlockRequest& request) override;
  bool run_first(StateBase& state) noexcept override { return state.run_here(*this, 0); }

  std::size_t size() const noexcept { return options_.threads; }
  // Threads started so far, spares included (for tests and diagnostics).
  std::size_t threads_started() const noexcept { return started_.load(std::memory_order_acquire); }
  // Cancels the tasks whose threads are blocked in get/wait (shutdown): the
  // blocking calls throw TaskCancelled.
  void cancel_blocked_tasks(CancelReason reason) noexcept;
  // Runs everything still queued, then ends the threads. Work posted later
  // runs on the poster's thread (it sees the runtime stopping).
  void stop() noexcept;

 private:
  struct Worker {
    ThreadPool* pool = nullptr;
    std::size_t index = 0;
    LocalQueue queue;
    pthread_t thread{};
    bool spare_woken = false;  // under spare_mutex_
  };

  // While a thread is parked in a blocking call: the pool stands in for it.
  class BlockedThread {
   public:
    BlockedThread(ThreadPool& pool, StateBase* task);
    ~BlockedThread();
    // Set if cancel_blocked_tasks() ran before this task blocked: the task
    // cancels itself with this reason instead.
    std::optional<CancelReason> late_cancel() const noexcept { return late_cancel_; }

   private:
    ThreadPool& pool_;
    StateBase* task_;
    std::optional<CancelReason> late_cancel_;
  };

  static void* thread_main(void* worker) noexcept;
  void worker_loop(Worker& self);
  Work* next_work(Worker& self) noexcept;
  Work* take_injected(Worker& self) noexcept;
  Work* steal(Worker& self) noexcept;
  bool has_queued_work() const noexcept;
  bool spin_for_work() noexcept;
  void park() noexcept;
  void wake_one_if_idle() noexcept;
  bool retire_if_surplus(Worker& self);
  void start_worker_locked();
  std::optional<CancelReason> enter_blocked(StateBase* task);
  void leave_blocked(StateBase* task) noexcept;
  void run_after_stop() noexcept;
  bool help(const BlockRequest& request) noexcept;

  const ThreadPoolOptions options_;
  std::function<void()> on_thread_start_;
  std::unique_ptr<Worker[]> workers_;  // size() + max_extra_threads slots
  std::atomic<std::size_t> started_{0};

  MpscQueue injected_;
  std::atomic<std::size_t> injected_count_{0};
  alignas(64) std::mutex inject_consumer_;  // one taker from the injection queue at a time
  std::size_t taken_count_ = 0;             // under inject_consumer_

  alignas(64) std::atomic<int> spinners_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<std::uint32_t> wake_epoch_{0};
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};

  // Threads able to run tasks: neither blocked nor retired as spares.
  std::mutex spare_mutex_;
  std::condition_variable spare_wake_;
  std::size_t active_ = 0;
  std::vector<Worker*> spares_;
  std::vector<StateBase*> blocked_tasks_;
  std::optional<CancelReason> cancel_blocked_;  // sticky: tasks that block later are cancelled too
  bool joined_ = false;
};

}  // namespace fray::detail
