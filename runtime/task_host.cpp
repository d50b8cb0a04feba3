#include "fray/detail/task_host.hpp"

#include <vector>

namespace fray::detail {

JobContext*& thread_context() noexcept {
  thread_local JobContext* context = nullptr;
  return context;
}

namespace {
// Live runtimes' contexts, newest last: the newest is the default.
struct DefaultContexts {
  std::mutex mutex;
  std::vector<JobContext*> live;
};
DefaultContexts& default_contexts() {
  static DefaultContexts contexts;
  return contexts;
}
}  // namespace

void push_default_context(JobContext* context) {
  auto& contexts = default_contexts();
  std::lock_guard guard(contexts.mutex);
  contexts.live.push_back(context);
}

void remove_default_context(JobContext* context) noexcept {
  auto& contexts = default_contexts();
  std::lock_guard guard(contexts.mutex);
  std::erase(contexts.live, context);
}

JobContext* default_context() noexcept {
  auto& contexts = default_contexts();
  std::lock_guard guard(contexts.mutex);
  return contexts.live.empty() ? nullptr : contexts.live.back();
}

TaskHost::TaskHost(HostOptions options) : options_(std::move(options)), admission_(options_.capacity) {}

void TaskHost::start(JobContext* context) {
  context_ = context;
  auto enter = [context] { thread_context() = context; };
  if (options_.inline_context) {
    inline_ = std::make_unique<InlineExecutor>(context);
    executor_ = inline_.get();
  } else {
    pool_ = std::make_unique<ThreadPool>(options_.pool, enter);
    executor_ = pool_.get();
  }
}

TaskHost::~TaskHost() { shutdown(); }

void TaskHost::task_finished() noexcept {
  if (live_count_.fetch_sub(1, std::memory_order_seq_cst) == 1 && stopping()) all_finished_.notify();
}

bool TaskHost::enlist(LiveTask& task) noexcept {
  {
    std::lock_guard guard(live_mutex_);
    if (stopping()) return false;
    live_.push_back(task);
  }
  task_submitted();
  return true;
}

void TaskHost::delist(LiveTask& task) noexcept {
  bool listed;
  {
    std::lock_guard guard(live_mutex_);
    listed = live_.remove(task);
  }
  if (listed) task_finished();
}

void TaskHost::shutdown() noexcept {
  std::vector<StateBase*> listed;
  {
    // Under the lock enlist takes: a task is either listed before we look
    // or refused. A listed task is alive: pin it before letting go.
    std::lock_guard guard(live_mutex_);
    if (stopping_.exchange(true, std::memory_order_seq_cst) || executor_ == nullptr) return;
    listed.reserve(live_.size());
    live_.for_each([&](LiveTask& task) {
      task.state->add_ref();
      listed.push_back(task.state);
    });
  }
  // Waiting and suspended tasks finish as cancelled (queued ones see
  // `stopping` when they reach a thread).
  for (StateBase* state : listed) {
    state->request_cancel(CancelReason::shutdown);
    state->release();
  }
  // Plain tasks blocked in a get/wait are woken with TaskCancelled.
  if (pool_) pool_->cancel_blocked_tasks(CancelReason::shutdown);
  if (inline_) inline_->cancel_blocked_tasks(CancelReason::shutdown);
  admission_.flush_all(*executor_);
  // Actors die like suspended tasks; their destructors run on their
  // mailboxes, and each counts as live until its object is gone.
  actors_.kill_all();
  if (live_count_.load(std::memory_order_seq_cst) > 0) {
    if (inline_) {
      // Nobody else runs the sync context's queue: drive it here.
      inline_->drive_until(all_finished_, std::nullopt);
    } else {
      all_finished_.wait_until(std::nullopt);
    }
    all_finished_.settle();
  }
  if (pool_) pool_->stop();
  if (inline_) inline_->drain();
  actors_.detach_all();
  event_loop_.stop();
}

}  // namespace fray::detail
