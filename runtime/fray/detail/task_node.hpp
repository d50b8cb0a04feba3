// One submitted task: its function and arguments, its result (it is the
// future's shared state), its queue link, and what it needs before it can
// start (futures among its arguments, resources). One allocation per task.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "fray/detail/task_host.hpp"
#include "fray/future.hpp"
#include "fray/object_ref.hpp"
#include "fray/stream.hpp"
#include "fray/task.hpp"
#include "fray/task_options.hpp"

namespace fray::detail {

template <class T>
struct is_future : std::false_type {};
template <class T>
struct is_future<Future<T>> : std::true_type {};
template <class T>
struct is_object_ref : std::false_type {};
template <class T>
struct is_object_ref<ObjectRef<T>> : std::true_type {};
template <class T>
struct is_generator : std::false_type {};
template <class T>
struct is_generator<Generator<T>> : std::true_type {};

// What the function receives for an argument of type A: a future or an
// object ref is replaced by (a const reference to) its value, as in Ray.
template <class A>
struct resolved {
  using type = A&&;
};
template <class U>
struct resolved<Future<U>> {
  static_assert(!std::is_void_v<U>, "a Future<void> has no value to pass as an argument");
  using type = const U&;
};
template <class U>
struct resolved<ObjectRef<U>> {
  using type = const U&;
};
template <class A>
using resolved_t = typename resolved<A>::type;

// Ray resolves futures given as arguments. A function that declares a
// Future parameter asks for the future itself: then nothing is resolved.
template <class F, class... Args>
inline constexpr bool resolves_arguments = std::is_invocable_v<F&, resolved_t<Args>...>;

template <class F, class... Args>
struct call_result {
  using type = std::invoke_result_t<F&, resolved_t<Args>...>;
};
template <class F, class... Args>
  requires(!resolves_arguments<F, Args...>)
struct call_result<F, Args...> {
  static_assert(std::is_invocable_v<F&, Args&&...>,
                "run(fn, args...): fn cannot be called with these arguments (futures and object refs "
                "among them are passed as their values, unless fn takes the Future itself)");
  using type = std::invoke_result_t<F&, Args&&...>;
};
template <class F, class... Args>
using call_result_t = typename call_result<F, Args...>::type;

template <bool Resolve, class A>
decltype(auto) pass_argument(A& argument, bool last_attempt) {
  if constexpr (Resolve && is_future<A>::value) {
    return static_cast<const typename A::value_type&>(argument.state_ptr()->value());
  } else if constexpr (Resolve && is_object_ref<A>::value) {
    return argument.get();
  } else if constexpr (std::is_copy_constructible_v<A>) {
    // A retry needs the arguments again: hand out copies until the last try.
    return last_attempt ? A(std::move(argument)) : A(argument);
  } else {
    return A(std::move(argument));
  }
}

template <class... Args>
constexpr std::size_t count_futures() {
  return (std::size_t{0} + ... + (is_future<Args>::value ? 1 : 0));
}

template <class... Args>
constexpr bool all_copyable() {
  return (true && ... && (is_future<Args>::value || is_object_ref<Args>::value || std::is_copy_constructible_v<Args>));
}

// What a task returns, seen through its kind: plain value, Task<T>, Generator<T>.
template <class R>
struct task_kind {
  using value_type = R;
  static constexpr bool coroutine = false;
  static constexpr bool generator = false;
};
template <class T>
struct task_kind<Task<T>> {
  using value_type = T;
  static constexpr bool coroutine = true;
  static constexpr bool generator = false;
};
template <class T>
struct task_kind<Generator<T>> {
  using value_type = void;  // the producer's own completion
  using item_type = T;
  static constexpr bool coroutine = true;
  static constexpr bool generator = true;
};

template <class R>
struct channel_of {
  using type = Unit;
};
template <class T>
struct channel_of<Generator<T>> {
  using type = std::shared_ptr<StreamChannel<T>>;
};

template <class R>
struct promise_of {
  using type = void;
};
template <class T>
struct promise_of<Task<T>> {
  using type = typename Task<T>::promise_type;
};
template <class T>
struct promise_of<Generator<T>> {
  using type = typename Generator<T>::promise_type;
};
template <class R>
using PromiseOf = typename promise_of<R>::type;

// Options beyond the defaults; most tasks have none and pay nothing.
struct TaskExtras {
  TaskOptions options;
  AdmissionTicket ticket;
};

inline std::unique_ptr<TaskExtras> make_extras(TaskOptions&& options) {
  if (options.name.empty() && options.max_retries == 0 && !options.retry_if && options.resources.empty()) {
    return nullptr;
  }
  auto extras = std::make_unique<TaskExtras>();
  extras->options = std::move(options);
  return extras;
}

template <class F, class... Args>
class TaskNode final : public SharedState<typename task_kind<call_result_t<F, Args...>>::value_type>,
                       public Work {
  using Returned = call_result_t<F, Args...>;
  static constexpr bool kResolve = resolves_arguments<F, Args...>;
  using Kind = task_kind<Returned>;
  using Value = typename Kind::value_type;
  using State = SharedState<Value>;
  static constexpr std::size_t kDependencies = kResolve ? count_futures<Args...>() : 0;

 public:
  template <class G, class... A>
  TaskNode(TaskHost& host, std::unique_ptr<TaskExtras> extras, G&& fn, A&&... args)
      : State(2),  // one reference for the future, one for the execution
        host_(host),
        extras_(std::move(extras)),
        fn_(std::forward<G>(fn)),
        args_(std::forward<A>(args)...) {
    this->set_home(&host.executor());
    run_work = &TaskNode::start;
  }

  // Hands the task to the runtime: waits for argument futures, then for
  // resources, then runs. Any failure goes to the future, never to run().
  void submit() noexcept {
    if (host_.stopping()) return fail_unsubmitted(std::make_exception_ptr(TaskCancelled("the runtime is shutting down")));
    if (extras_ != nullptr) {
      if (extras_->options.max_retries > 0 && !all_copyable<Args...>()) {
        return fail_unsubmitted(std::make_exception_ptr(
            InvalidOptions("max_retries needs copyable arguments (a retry runs the task again)")));
      }
      std::string why = host_.admission().why_unschedulable(extras_->options.resources);
      if (!why.empty()) {
        return fail_unsubmitted(std::make_exception_ptr(TaskUnschedulable(fmt::format("task {}{}", label(), why))));
      }
    }
    if constexpr (kDependencies > 0) {
      if (std::string invalid = invalid_future_argument(); !invalid.empty()) {
        return fail_unsubmitted(std::make_exception_ptr(EmptyFuture()));
      }
    }
    // Shutdown waits for tasks it cannot see in a queue: those waiting for
    // futures or resources, and coroutines. A plain task is always in the
    // executor's queue or on its thread, which shutdown drains and joins.
    counted_ = kDependencies > 0 || Kind::coroutine || (extras_ != nullptr && !extras_->options.resources.empty());
    if (counted_) host_.task_submitted();
    if constexpr (kDependencies > 0) {
      unresolved_.store(static_cast<std::uint32_t>(kDependencies + 1), std::memory_order_relaxed);
      watch_dependencies(std::index_sequence_for<Args...>{});
      dependency_ready();  // the guard: all waiters are registered
    } else {
      admit();
    }
  }

  // For streaming tasks: the channel the generator writes into.
  template <class Channel>
  void set_channel(std::shared_ptr<Channel> channel) {
    channel_ = std::move(channel);
  }

 private:
  struct DependencyWaiter : Waiter {
    TaskNode* node = nullptr;
  };

  std::string label() const {
    return extras_ != nullptr && !extras_->options.name.empty() ? "'" + extras_->options.name + "' " : std::string();
  }

  void fail_unsubmitted(std::exception_ptr error) noexcept {
    close_channel(error);
    this->complete_with_error(std::move(error));
    this->release();
  }

  std::string invalid_future_argument() const {
    bool invalid = false;
    std::apply([&](const auto&... arg) { ((invalid = invalid || is_empty_future(arg)), ...); }, args_);
    return invalid ? "empty future" : "";
  }
  template <class A>
  static bool is_empty_future(const A& arg) {
    if constexpr (kResolve && is_future<A>::value) {
      return !arg.valid();
    } else {
      return false;
    }
  }

  template <std::size_t... I>
  void watch_dependencies(std::index_sequence<I...>) noexcept {
    std::size_t slot = 0;
    (watch_one(std::get<I>(args_), slot), ...);
  }
  template <class A>
  void watch_one(A& arg, std::size_t& slot) noexcept {
    if constexpr (is_future<A>::value) {
      DependencyWaiter& waiter = dependency_waiters_[slot++];
      waiter.node = this;
      waiter.on_ready = [](Waiter* self) noexcept { static_cast<DependencyWaiter*>(self)->node->dependency_ready(); };
      if (!arg.state_ptr()->add_waiter(&waiter)) dependency_ready();
    }
  }
  void dependency_ready() noexcept {
    if constexpr (kDependencies > 0) {
      if (unresolved_.fetch_sub(1, std::memory_order_acq_rel) == 1) admit();
    }
  }

  void admit() noexcept {
    if (extras_ == nullptr || extras_->options.resources.empty()) {
      host_.executor().post(this);
      return;
    }
    AdmissionTicket& ticket = extras_->ticket;
    ticket.request = &extras_->options.resources;
    ticket.start = this;
    ticket.state = this;
    if (host_.admission().acquire_or_queue(ticket)) host_.executor().post(this);
  }

  void on_cancelled_before_start() noexcept override {
    // A cancelled task at the head of the admission line must not hold back
    // the ones behind it.
    if (extras_ != nullptr && !extras_->options.resources.empty()) host_.admission().admit_waiting(host_.executor());
  }

  // The first run, on an executor thread.
  static void start(Work* work) noexcept {
    auto* self = static_cast<TaskNode*>(work);
    if (!self->try_start()) {  // cancelled while it waited
      self->close_channel(std::make_exception_ptr(TaskCancelled()));
      return self->finish();
    }
    if (self->host_.stopping()) {
      self->publish_error(std::make_exception_ptr(TaskCancelled("the runtime is shutting down")));
      return self->finish();
    }
    if (std::exception_ptr failed = self->failed_dependency()) {
      self->publish_error(std::move(failed));
      return self->finish();
    }
    self->attempt();
  }
  // Runs a coroutine task again after it failed.
  static void restart(Work* work) noexcept { static_cast<TaskNode*>(work)->attempt(); }

  std::exception_ptr failed_dependency() const noexcept {
    std::exception_ptr failed;
    std::apply([&](const auto&... arg) { ((failed = failed ? failed : error_of(arg)), ...); }, args_);
    return failed;
  }
  template <class A>
  static std::exception_ptr error_of(const A& arg) noexcept {
    if constexpr (kResolve && is_future<A>::value) {
      return arg.state_ptr()->has_error() ? arg.state_ptr()->error() : nullptr;
    } else {
      return nullptr;
    }
  }

  bool last_attempt() const noexcept {
    return extras_ == nullptr || attempts_ >= extras_->options.max_retries;
  }

  Returned call() {
    const bool last = last_attempt();
    return std::apply([&](auto&... arg) -> Returned { return std::invoke(fn_, pass_argument<kResolve>(arg, last)...); }, args_);
  }

  bool should_retry(const std::exception_ptr& error) const {
    if (last_attempt() || this->cancel_requested() || host_.stopping()) return false;
    try {
      std::rethrow_exception(error);
    } catch (const TaskCancelled&) {
      return false;
    } catch (...) {
    }
    return !extras_->options.retry_if || extras_->options.retry_if(error);
  }

  void attempt() noexcept {
    if constexpr (Kind::coroutine) {
      start_coroutine();
    } else {
      run_plain();
    }
  }

  void run_plain() noexcept {
    StateBase*& current = current_task_state();
    StateBase* outer = std::exchange(current, this);
    for (;;) {
      try {
        if constexpr (std::is_void_v<Value>) {
          call();
          current = outer;
          if (this->cancel_requested()) throw TaskCancelled();
          publish_value();
        } else {
          Value value = call();
          current = outer;
          if (this->cancel_requested()) throw TaskCancelled();
          publish_value(std::move(value));
        }
        break;
      } catch (...) {
        current = this;
        std::exception_ptr error = std::current_exception();
        if (should_retry(error)) {
          ++attempts_;
          continue;
        }
        current = outer;
        publish_error(std::move(error));
        break;
      }
    }
    current = outer;
    finish();
  }

  void start_coroutine() noexcept {
    std::coroutine_handle<> handle;
    try {
      auto coroutine = call();
      frame_ = coroutine.release();
      frame_.promise().set_root(&TaskNode::coroutine_done, this, FrameContext{&host_.executor(), this});
      if constexpr (Kind::generator) frame_.promise().set_channel(channel_.get());
      handle = frame_;
    } catch (...) {
      return coroutine_failed(std::current_exception());
    }
    if (attempts_ == 0) {
      live_.state = this;
      host_.add_live(live_);
    }
    handle.resume();  // runs to its first suspension, or to the end
  }

  static void coroutine_done(void* owner) noexcept {
    auto* self = static_cast<TaskNode*>(owner);
    auto frame = std::exchange(self->frame_, nullptr);
    std::exception_ptr error;
    std::optional<stored_t<Value>> value;
    try {
      if constexpr (std::is_void_v<Value>) {
        frame.promise().take_result();
        value.emplace();
      } else {
        value.emplace(frame.promise().take_result());
      }
    } catch (...) {
      error = std::current_exception();
    }
    frame.destroy();
    if (!error && self->cancel_requested()) error = std::make_exception_ptr(TaskCancelled());
    if (error) return self->coroutine_failed(std::move(error));
    self->close_channel(nullptr);
    if constexpr (std::is_void_v<Value>) {
      self->publish_value();
    } else {
      self->publish_value(std::move(*value));
    }
    self->finish();
  }

  void coroutine_failed(std::exception_ptr error) noexcept {
    if (should_retry(error)) {
      ++attempts_;
      run_work = &TaskNode::restart;
      host_.executor().post(this);
      return;
    }
    close_channel(error);
    publish_error(std::move(error));
    finish();
  }

  void close_channel(const std::exception_ptr& error) noexcept {
    if constexpr (Kind::generator) {
      if (channel_) channel_->close(error);
    }
  }

  // Resources go back before the result is visible, so a caller that saw
  // the result also sees them free.
  template <class... V>
  void publish_value(V&&... value) {
    release_resources();
    this->set_value(std::forward<V>(value)...);
  }
  void publish_error(std::exception_ptr error) noexcept {
    release_resources();
    this->complete_with_error(std::move(error));
  }
  void release_resources() noexcept {
    if (extras_ != nullptr && extras_->ticket.holds_resources) {
      extras_->ticket.holds_resources = false;
      host_.admission().release(extras_->options.resources, host_.executor());
    }
  }

  // The execution is over: let shutdown know, and drop the execution's
  // reference.
  void finish() noexcept {
    if constexpr (Kind::coroutine) {
      if (live_.state != nullptr) host_.remove_live(live_);
    }
    release_resources();
    TaskHost& host = host_;
    const bool counted = counted_;
    this->release();
    if (counted) host.task_finished();
  }

  TaskHost& host_;
  std::unique_ptr<TaskExtras> extras_;
  F fn_;
  std::tuple<Args...> args_;
  int attempts_ = 0;
  bool counted_ = false;
  [[no_unique_address]] std::conditional_t<(kDependencies > 0), std::atomic<std::uint32_t>, Unit> unresolved_{};
  std::array<DependencyWaiter, kDependencies> dependency_waiters_{};
  [[no_unique_address]] std::conditional_t<Kind::coroutine, LiveCoroutine, Unit> live_{};
  [[no_unique_address]] std::conditional_t<Kind::coroutine, std::coroutine_handle<PromiseOf<Returned>>, Unit> frame_{};
  [[no_unique_address]] typename channel_of<Returned>::type channel_{};
};

}  // namespace fray::detail
