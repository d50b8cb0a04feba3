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

StateBase*& current_task_state() noexcept {
  thread_local StateBase* state = nullptr;
  return state;
}

TaskHost::TaskHost(bool inline_context, std::size_t threads, Resources capacity)
    : inline_context_(inline_context), threads_(threads), admission_(std::move(capacity)) {}

void TaskHost::start(JobContext* context) {
  context_ = context;
  auto enter = [context] { thread_context() = context; };
  if (inline_context_) {
    inline_ = std::make_unique<InlineExecutor>(context);
    executor_ = inline_.get();
  } else {
    pool_ = std::make_unique<ThreadPool>(threads_, enter);
    executor_ = pool_.get();
  }
}

TaskHost::~TaskHost() { shutdown(); }

void TaskHost::task_finished() noexcept {
  if (live_.fetch_sub(1, std::memory_order_seq_cst) == 1 && stopping()) all_finished_.notify();
}

void TaskHost::add_live(LiveCoroutine& coroutine) noexcept {
  std::lock_guard guard(live_mutex_);
  coroutine.prev = nullptr;
  coroutine.next = live_head_;
  if (live_head_ != nullptr) live_head_->prev = &coroutine;
  live_head_ = &coroutine;
}

void TaskHost::remove_live(LiveCoroutine& coroutine) noexcept {
  std::lock_guard guard(live_mutex_);
  if (coroutine.prev != nullptr) {
    coroutine.prev->next = coroutine.next;
  } else {
    live_head_ = coroutine.next;
  }
  if (coroutine.next != nullptr) coroutine.next->prev = coroutine.prev;
  coroutine.prev = coroutine.next = nullptr;
}

void TaskHost::cancel_live_coroutines() noexcept {
  std::lock_guard guard(live_mutex_);
  for (LiveCoroutine* live = live_head_; live != nullptr; live = live->next) live->state->request_cancel();
}

void TaskHost::shutdown() noexcept {
  if (stopping_.exchange(true, std::memory_order_seq_cst) || executor_ == nullptr) return;
  // Queued and waiting tasks see `stopping` when they reach a thread and
  // finish as cancelled; suspended coroutines are woken to unwind.
  admission_.flush_all(*executor_);
  cancel_live_coroutines();
  // Actors die like suspended tasks; their destructors run on their
  // mailboxes, and each counts as live until its object is gone.
  actors_.kill_all();
  if (live_.load(std::memory_order_seq_cst) > 0) {
    BlockingHelper*& helper = current_blocking_helper();
    BlockingHelper* outer = helper;
    if (inline_) helper = inline_.get();
    block_until(all_finished_, executor_, std::nullopt);
    helper = outer;
  }
  if (pool_) pool_->stop();
  if (inline_) inline_->drain();
  actors_.detach_all();
  event_loop_.stop();
}

}  // namespace fray::detail
