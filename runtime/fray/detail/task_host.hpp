// What the tasks of one job context share: the executor they run on, the
// admission line for resources, the event loop for timers, and the count of
// live tasks that shutdown waits for.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "fray/detail/actor_registry.hpp"
#include "fray/detail/event_loop.hpp"
#include "fray/detail/inline_executor.hpp"
#include "fray/detail/resource_admission.hpp"
#include "fray/detail/signal.hpp"
#include "fray/detail/thread_pool.hpp"

namespace fray {
class JobContext;
}

namespace fray::detail {

// A started coroutine task, listed so shutdown can cancel it wherever it is
// suspended.
struct LiveCoroutine {
  StateBase* state = nullptr;
  LiveCoroutine* prev = nullptr;
  LiveCoroutine* next = nullptr;
};

class TaskHost {
 public:
  TaskHost(bool inline_context, std::size_t threads, Resources capacity);
  // Starts the executor; its threads see `context` as their ambient context.
  void start(JobContext* context);
  TaskHost(const TaskHost&) = delete;
  ~TaskHost();

  Executor& executor() noexcept { return *executor_; }
  ResourceAdmission& admission() noexcept { return admission_; }
  EventLoop& event_loop() noexcept { return event_loop_; }
  ActorRegistry& actors() noexcept { return actors_; }
  JobContext* context() const noexcept { return context_; }
  bool is_inline() const noexcept { return inline_context_; }
  std::size_t thread_count() const noexcept { return pool_ ? pool_->size() : 1; }

  bool stopping() const noexcept { return stopping_.load(std::memory_order_seq_cst); }
  void task_submitted() noexcept { live_.fetch_add(1, std::memory_order_relaxed); }
  void task_finished() noexcept;
  void add_live(LiveCoroutine& coroutine) noexcept;
  void remove_live(LiveCoroutine& coroutine) noexcept;

  // Cancels what is pending and what is suspended, waits for what runs.
  void shutdown() noexcept;

 private:
  void cancel_live_coroutines() noexcept;

  JobContext* context_ = nullptr;
  bool inline_context_;
  std::size_t threads_;
  std::unique_ptr<InlineExecutor> inline_;
  std::unique_ptr<ThreadPool> pool_;
  Executor* executor_ = nullptr;
  ResourceAdmission admission_;
  EventLoop event_loop_;
  ActorRegistry actors_{*this};
  alignas(64) std::atomic<std::int64_t> live_{0};
  alignas(64) std::atomic<bool> stopping_{false};
  Signal all_finished_;
  std::mutex live_mutex_;
  LiveCoroutine* live_head_ = nullptr;
};

// The ambient context of the calling thread: set on executor threads, and
// by each Runtime as the process default.
JobContext*& thread_context() noexcept;
JobContext* default_context() noexcept;
void push_default_context(JobContext* context);
void remove_default_context(JobContext* context) noexcept;

// The task running on this thread (plain tasks), for this_task queries.
StateBase*& current_task_state() noexcept;

}  // namespace fray::detail
