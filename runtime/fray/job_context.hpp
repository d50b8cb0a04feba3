// JobContext: the task API inside one job (Python Fray's JobContext, Ray's
// task API): run, put, get, wait, cancel, sleep. Obtained from a Runtime, or
// inside a task as fray::current_context() so tasks can run nested tasks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "fray/detail/sleep_awaiter.hpp"
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

  // ray.wait: the first `num_returns` ready and the rest, in input order.
  template <class T>
  WaitResult<T> wait(std::vector<Future<T>> futures, std::size_t num_returns = 1,
                     std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return fray::wait(std::move(futures), num_returns, timeout);
  }
  // The same over futures of different types and object refs.
  WaitResult<Waitable> wait(std::vector<Waitable> items, std::size_t num_returns = 1,
                            std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
    return fray::wait(std::move(items), num_returns, timeout);
  }
  // co_await ctx.wait_async(...): the same, suspending the coroutine.
  template <class T>
  detail::WaitAwaiter<Future<T>> wait_async(std::vector<Future<T>> futures, std::size_t num_returns = 1,
                                            std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
  detail::WaitAwaiter<Waitable> wait_async(std::vector<Waitable> items, std::size_t num_returns = 1,
                                           std::optional<std::chrono::nanoseconds> timeout = std::nullopt);

  // ray.cancel(ref, recursive=...): see Future::cancel.
  template <class T>
  bool cancel(const Future<T>& future, CancelScope scope = CancelScope::with_children) noexcept {
    return future.cancel(scope);
  }

  // co_await ctx.sleep(d): suspends a coroutine task without holding a
  // thread; sleep(0) yields to the other queued work. A cancellation point.
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
  // Threads the pool has started, the extra ones for blocked tasks included.
  std::size_t threads_started() const noexcept { return host_.threads_started(); }
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
      Handle handle(channel, Future<void>(node), &host_.event_loop());
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
// True if the task whose code runs on this thread (a plain function or a
// coroutine) was cancelled: it may stop early (its result is discarded
// either way). Coroutines are also stopped at their next co_await.
bool cancel_requested() noexcept;
// Throws TaskCancelled if cancel_requested(): a cancellation point for
// plain code.
void throw_if_cancelled();
}  // namespace this_task

template <class T>
detail::WaitAwaiter<Future<T>> JobContext::wait_async(std::vector<Future<T>> futures, std::size_t num_returns,
                                                      std::optional<std::chrono::nanoseconds> timeout) {
  return detail::WaitAwaiter<Future<T>>(std::move(futures), num_returns, timeout, &host_.event_loop());
}
inline detail::WaitAwaiter<Waitable> JobContext::wait_async(std::vector<Waitable> items, std::size_t num_returns,
                                                            std::optional<std::chrono::nanoseconds> timeout) {
  return detail::WaitAwaiter<Waitable>(std::move(items), num_returns, timeout, &host_.event_loop());
}

inline detail::SleepAwaiter JobContext::sleep(std::chrono::nanoseconds duration) {
  return detail::SleepAwaiter(host_.event_loop(), duration);
}

}  // namespace fray

#include "fray/actor.hpp"  // IWYU pragma: export
