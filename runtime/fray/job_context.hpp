// JobContext: the task API inside one job (Python Fray's JobContext, Ray's
// task API): run, put, get, wait, cancel, sleep. Obtained from a Runtime, or
// inside a task as fray::current_context() so tasks can run nested tasks.
#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "fray/detail/task_host.hpp"
#include "fray/detail/task_node.hpp"
#include "fray/future.hpp"
#include "fray/object_ref.hpp"
#include "fray/resources.hpp"
#include "fray/stream.hpp"
#include "fray/task.hpp"
#include "fray/task_options.hpp"
#include "fray/wait.hpp"

namespace fray {

enum class ContextKind {
  sync,     // inline: one thread, tasks run in submission order when results are awaited
  threads,  // a thread pool
};

template <class F, class... Args>
using run_result_t = detail::call_result_t<F, std::decay_t<Args>...>;

// What run(fn, args...) returns: Future<T> for a function returning T or
// Task<T>, Stream<T> for one returning Generator<T>.
template <class R>
struct run_handle {
  using type = Future<typename detail::task_kind<R>::value_type>;
};
template <class T>
struct run_handle<Generator<T>> {
  using type = Stream<T>;
};

namespace detail {
class SleepAwaiter;
template <class T>
class WaitAwaiter;
}  // namespace detail

// Actors: see fray/actor.hpp (included at the end of this header).
template <class T>
class ActorHandle;

class JobContext {
 public:
  explicit JobContext(detail::TaskHost& host) noexcept : host_(host) {}
  JobContext(const JobContext&) = delete;

  // Runs fn(args...) as a task. Arguments are moved in; futures and object
  // refs among them are resolved first (the task starts once they are ready
  // and receives their values). A streaming Generator<T> task defaults to a
  // buffer of 16 items (see run_stream for another size).
  template <class F, class... Args>
  auto run(F&& fn, Args&&... args) {
    if constexpr (std::is_same_v<std::decay_t<F>, TaskOptions>) {
      return submit(TaskOptions(std::forward<F>(fn)), kDefaultStreamBuffer, std::forward<Args>(args)...);
    } else {
      return submit(std::nullopt, kDefaultStreamBuffer, std::forward<F>(fn), std::forward<Args>(args)...);
    }
  }
  // A streaming task whose buffer holds at most `buffer` items.
  template <class F, class... Args>
  auto run_stream(TaskOptions options, std::size_t buffer, F&& fn, Args&&... args) {
    return submit(std::move(options), buffer, std::forward<F>(fn), std::forward<Args>(args)...);
  }

  template <class T>
  ObjectRef<std::decay_t<T>> put(T&& value) {
    return fray::put(std::forward<T>(value));
  }

  template <class T>
  WaitResult<T> wait(std::vector<Future<T>> futures, std::size_t num_returns = 1,
                     std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return fray::wait(std::move(futures), num_returns, timeout);
  }
  // co_await ctx.wait_async(...): the same, suspending the coroutine.
  template <class T>
  detail::WaitAwaiter<T> wait_async(std::vector<Future<T>> futures, std::size_t num_returns = 1,
                                    std::optional<std::chrono::nanoseconds> timeout = std::nullopt);

  template <class T>
  bool cancel(const Future<T>& future) noexcept {
    return future.cancel();
  }

  // co_await ctx.sleep(d): suspends a coroutine task without holding a thread.
  detail::SleepAwaiter sleep(std::chrono::nanoseconds duration);

  // Actors (fray/actor.hpp). create_actor<T>([ActorOptions,] ctor args...)
  // constructs a T on its own mailbox; get_actor<T>(name) finds a live named
  // one; kill(handle) stops one (the future completes once it is destroyed).
  template <class T, class... Args>
  ActorHandle<T> create_actor(Args&&... args);
  template <class T>
  std::optional<ActorHandle<T>> get_actor(std::string_view name);
  template <class T>
  Future<void> kill(const ActorHandle<T>& actor);

  ContextKind kind() const noexcept { return host_.is_inline() ? ContextKind::sync : ContextKind::threads; }
  std::size_t thread_count() const noexcept { return host_.thread_count(); }
  const Resources& capacity() const noexcept { return host_.admission().capacity(); }
  Resources available() const { return host_.admission().available(); }
  detail::TaskHost& host() noexcept { return host_; }

 private:
  static constexpr std::size_t kDefaultStreamBuffer = 16;

  // No options (the common case) builds no TaskOptions at all.
  template <class F, class... Args>
  auto submit(std::optional<TaskOptions> options, std::size_t stream_buffer, F&& fn, Args&&... args) {
    using Node = detail::TaskNode<std::decay_t<F>, std::decay_t<Args>...>;
    using Returned = run_result_t<std::decay_t<F>, Args...>;
    auto extras = options ? detail::make_extras(std::move(*options)) : nullptr;
    auto* node = new Node(host_, std::move(extras), std::forward<F>(fn), std::forward<Args>(args)...);
    using Handle = typename run_handle<Returned>::type;
    if constexpr (detail::is_generator<Returned>::value) {
      using Item = typename detail::task_kind<Returned>::item_type;
      auto channel = std::make_shared<detail::StreamChannel<Item>>(stream_buffer);
      node->set_channel(channel);
      Handle handle(channel, Future<void>(node));
      node->submit();
      return handle;
    } else {
      Handle handle(node);
      node->submit();
      return handle;
    }
  }

  detail::TaskHost& host_;
};

// The context of the running task, or the most recent Runtime's.
JobContext& current_context();

// The ambient versions, for code inside tasks (and drivers with one runtime).
template <class F, class... Args>
auto run(F&& fn, Args&&... args) {
  return current_context().run(std::forward<F>(fn), std::forward<Args>(args)...);
}

namespace this_task {
// True if cancel() was called on the plain task running on this thread; it
// may stop early (its result is discarded either way).
bool cancel_requested() noexcept;
}  // namespace this_task

namespace detail {

// Resumes a coroutine once both its wake-up came and its await_suspend
// finished setting up (a timer may fire, or cancel() run, before then).
struct TwoStepResumption {
  Resumption resumption;
  std::atomic<int> steps{2};
  void step() noexcept {
    if (steps.fetch_sub(1, std::memory_order_acq_rel) == 1) resumption.schedule();
  }
};

// co_await ctx.sleep(d)
class SleepAwaiter : CancelHook {
 public:
  SleepAwaiter(EventLoop& loop, std::chrono::nanoseconds duration) : loop_(loop), duration_(duration) {}

  bool await_ready() const noexcept { return duration_.count() <= 0; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> handle) {
    frame_ = frame_context_of(handle);
    timer_ = std::make_shared<Timer>(loop_.context());
    timer_->wake.resumption.handle = handle;
    if (frame_ != nullptr) timer_->wake.resumption.executor = frame_->executor;
    on_cancel = [](CancelHook* self) noexcept { static_cast<SleepAwaiter*>(self)->interrupt(); };
    timer_->timer.expires_after(duration_);
    timer_->timer.async_wait([timer = timer_](const boost::system::error_code&) { timer->wake.step(); });
    // Cancelled already: cut the sleep short (the timer's handler resumes us).
    if (frame_ != nullptr && !frame_->begin_suspend(this)) interrupt();
    timer_->wake.step();
    return true;
  }
  void await_resume() {
    if (frame_ != nullptr) {
      frame_->end_suspend();
      frame_->throw_if_cancelled();
    }
  }

 private:
  struct Timer {
    explicit Timer(boost::asio::io_context& io) : timer(io) {}
    boost::asio::steady_timer timer;
    TwoStepResumption wake;
  };
  // Timers belong to the loop's thread: cancel there.
  void interrupt() noexcept {
    boost::asio::post(loop_.context(), [timer = timer_] { timer->timer.cancel(); });
  }

  EventLoop& loop_;
  std::chrono::nanoseconds duration_;
  FrameContext* frame_ = nullptr;
  std::shared_ptr<Timer> timer_;
};

// co_await ctx.wait_async(futures, n, timeout)
template <class T>
class WaitAwaiter : CancelHook {
 public:
  WaitAwaiter(EventLoop& loop, std::vector<Future<T>> futures, std::size_t num_returns,
              std::optional<std::chrono::nanoseconds> timeout)
      : loop_(loop), futures_(std::move(futures)), num_returns_(std::min(num_returns, futures_.size())), timeout_(timeout) {
    check_waitable(futures_);
  }

  bool await_ready() const { return count_ready(futures_) >= num_returns_; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> handle) {
    frame_ = frame_context_of(handle);
    group_ = std::make_shared<Group>(num_returns_);
    group_->wake.resumption.handle = handle;
    if (frame_ != nullptr) group_->wake.resumption.executor = frame_->executor;
    on_cancel = [](CancelHook* self) noexcept { static_cast<WaitAwaiter*>(self)->group_->fire(); };
    group_->watch(futures_);
    if (timeout_) {
      group_->timer.emplace(loop_.context());
      group_->timer->expires_after(*timeout_);
      group_->timer->async_wait([group = group_](const boost::system::error_code& error) {
        if (!error) group->fire();
      });
    }
    if (frame_ != nullptr && !frame_->begin_suspend(this)) group_->fire();
    group_->wake.step();  // set up: now a firing may resume us
    return true;
  }
  WaitResult<T> await_resume() {
    if (group_) {
      if (frame_ != nullptr) frame_->end_suspend();
      group_->unwatch(futures_);
      if (group_->timer) boost::asio::post(loop_.context(), [group = group_] { group->timer->cancel(); });
      if (frame_ != nullptr) frame_->throw_if_cancelled();
    }
    return split_ready(std::move(futures_), num_returns_);
  }

 private:
  struct Group : WaitGroup {
    explicit Group(std::size_t needed)
        : WaitGroup(needed, [](WaitGroup* self) noexcept { static_cast<Group*>(self)->wake.step(); }) {}
    TwoStepResumption wake;
    std::optional<boost::asio::steady_timer> timer;
  };

  EventLoop& loop_;
  std::vector<Future<T>> futures_;
  std::size_t num_returns_;
  std::optional<std::chrono::nanoseconds> timeout_;
  FrameContext* frame_ = nullptr;
  std::shared_ptr<Group> group_;
};

}  // namespace detail

template <class T>
detail::WaitAwaiter<T> JobContext::wait_async(std::vector<Future<T>> futures, std::size_t num_returns,
                                              std::optional<std::chrono::nanoseconds> timeout) {
  return detail::WaitAwaiter<T>(host_.event_loop(), std::move(futures), num_returns, timeout);
}

inline detail::SleepAwaiter JobContext::sleep(std::chrono::nanoseconds duration) {
  return detail::SleepAwaiter(host_.event_loop(), duration);
}

}  // namespace fray

#include "fray/actor.hpp"  // IWYU pragma: export
