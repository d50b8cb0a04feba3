// What the tasks of one job context share: the executor they run on, the
// admission line for resources, the event loop for timers, the actors, and
// the tasks shutdown must reach.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "fray/detail/actor_registry.hpp"
#include "fray/detail/event_loop.hpp"
#include "fray/detail/inline_executor.hpp"
#include "fray/detail/intrusive_list.hpp"
#include "fray/detail/resource_admission.hpp"
#include "fray/detail/signal.hpp"
#include "fray/detail/thread_pool.hpp"

namespace fray {
class JobContext;
}

namespace fray::detail {

struct LiveTasks {};

// A task that is in no executor's queue for a while (waiting for its
// argument futures, its resources, a retry's back-off, or a coroutine
// suspended somewhere), listed so that shutdown can cancel it.
struct LiveTask : ListHook<LiveTasks> {
  StateBase* state = nullptr;
};

struct HostOptions {
  bool inline_context = false;
  ThreadPoolOptions pool;
  Resources capacity;
};

class TaskHost {
 public:
  explicit TaskHost(HostOptions options);
  // Starts the executor; its threads see `context` as their ambient context.
  void start(JobContext* context);
  TaskHost(const TaskHost&) = delete;
  ~TaskHost();

  Executor& executor() noexcept { return *executor_; }
  ResourceAdmission& admission() noexcept { return admission_; }
  EventLoop& event_loop() noexcept { return event_loop_; }
  ActorRegistry& actors() noexcept { return actors_; }
  JobContext* context() const noexcept { return context_; }
  bool is_inline() const noexcept { return options_.inline_context; }
  std::size_t thread_count() const noexcept { return pool_ ? pool_->size() : 1; }
  std::size_t threads_started() const noexcept { return pool_ ? pool_->threads_started() : 1; }

  bool stopping() const noexcept { return stopping_.load(std::memory_order_seq_cst); }

  // Shutdown waits for every counted task (and actor) to finish.
  void task_submitted() noexcept { live_count_.fetch_add(1, std::memory_order_relaxed); }
  void task_finished() noexcept;
  // Lists a task for shutdown (and counts it); false once shutdown has
  // begun: the caller then cancels the task itself.
  bool enlist(LiveTask& task) noexcept;
  // Unlists (and uncounts) it.
  void delist(LiveTask& task) noexcept;

  // Cancels what is pending, suspended or blocked, waits for what runs.
  void shutdown() noexcept;

 private:
  JobContext* context_ = nullptr;
  HostOptions options_;
  std::unique_ptr<InlineExecutor> inline_;
  std::unique_ptr<ThreadPool> pool_;
  Executor* executor_ = nullptr;
  ResourceAdmission admission_;
  EventLoop event_loop_;
  ActorRegistry actors_{*this};
  alignas(64) std::atomic<std::int64_t> live_count_{0};
  alignas(64) std::atomic<bool> stopping_{false};
  Signal all_finished_;
  std::mutex live_mutex_;
  IntrusiveList<LiveTask, LiveTasks> live_;
};

// The ambient context of the calling thread: set on executor threads, and
// by each Runtime as the process default.
JobContext*& thread_context() noexcept;
JobContext* default_context() noexcept;
void push_default_context(JobContext* context);
void remove_default_context(JobContext* context) noexcept;

}  // namespace fray::detail
