// The thread-pool executor: N threads sharing one FIFO queue that posters
// push to without a lock (InjectQueue). Workers take small batches (fewer
// hand-offs when the queue is long, no hoarding when it is short), spin briefly before sleeping (a futex wake costs tens of
// microseconds on these machines), and at most one spins at a time so idle
// workers do not steal the core from busy ones.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "fray/detail/blocking.hpp"
#include "fray/detail/inject_queue.hpp"
#include "fray/executor.hpp"

namespace fray::detail {

class ThreadPool final : public Executor, public BlockingHelper {
 public:
  // `on_thread_start` runs first on every worker (to set thread-locals).
  ThreadPool(std::size_t threads, std::function<void()> on_thread_start);
  ~ThreadPool() override;

  void post(Work* work) noexcept override;
  bool help_until(Signal& signal, const Deadline& deadline) override;

  std::size_t size() const noexcept { return threads_.size(); }
  // Runs everything still queued, then ends the threads.
  void stop() noexcept;

 private:
  struct WorkList {
    Work* head = nullptr;
    Work* tail = nullptr;
    std::size_t size = 0;
    void push(Work* work) noexcept;
    Work* pop() noexcept;
  };
  // A worker's own batch, taken from the shared queue.
  struct Local {
    WorkList batch;
    int help_depth = 0;
  };

  void worker_main(std::function<void()> on_thread_start);
  bool take_batch(Local& local) noexcept;
  bool take_returned(Local& local) noexcept;
  void return_batch(Local& local) noexcept;
  void park_helper(Signal& signal) noexcept;
  void unpark_helper(Signal& signal) noexcept;
  Work* next_work(Local& local) noexcept;
  bool spin_for_work() noexcept;
  void park() noexcept;
  void wake_one_if_idle() noexcept;
  bool has_queued_work() const noexcept;
  void poke_parked_helper() noexcept;

  static Local*& current_local() noexcept;

  InjectQueue queue_;
  alignas(64) std::mutex consumer_mutex_;  // one worker pops at a time
  // Batches given back by workers that must block (help_until too deep):
  // run before the queue, as they were taken from its front.
  alignas(64) std::mutex mutex_;
  WorkList returned_;
  std::vector<Signal*> parked_helpers_;  // workers blocked in get(), poked on post
  std::atomic<bool> has_returned_{false};
  std::atomic<int> parked_helper_count_{0};
  alignas(64) std::atomic<int> spinners_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<std::uint32_t> wake_epoch_{0};
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

}  // namespace fray::detail
