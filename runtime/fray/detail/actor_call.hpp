// The work an actor's mailbox runs for its users: the construction (the
// first item, before any call) and each call. Each is one allocation that
// is also its future's state, and each finishes through the exit path that
// tasks use (task_outcome.hpp): the method and its arguments are let go of
// before the result is visible.
//
// Arguments: futures and object refs among a call's (or the constructor's)
// arguments are resolved first, as for tasks (a method that takes a Future
// gets the future itself). A call whose futures are not ready yet holds the
// calls behind it, so calls still start in the order they were made.
#pragma once

#include <array>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "fray/detail/actor_core.hpp"
#include "fray/detail/argument_resolution.hpp"
#include "fray/detail/dependency_set.hpp"
#include "fray/detail/stream_channel.hpp"
#include "fray/detail/suspension.hpp"
#include "fray/detail/task_host.hpp"
#include "fray/detail/task_outcome.hpp"

namespace fray::detail {

// A state whose waiters may drive an inline executor (the sync context).
template <class T>
class HomedState final : public SharedState<T> {
 public:
  HomedState(std::uint32_t refs, Executor& home) noexcept : SharedState<T>(refs), home_(home) {}
  Executor* home() const noexcept override { return &home_; }

 private:
  Executor& home_;
};

// ready(): completes with the construction's outcome. Its own state, so
// that cancelling it ends only this wait, never the actor.
class ReadyView final : public SharedState<void>, Waiter {
 public:
  ReadyView(StateBase& construction, Executor& home) noexcept : SharedState<void>(2), home_(home) {
    on_ready = [](Waiter* self) noexcept {
      auto* view = static_cast<ReadyView*>(self);
      view->settle();
    };
    construction_ = &construction;
    construction.add_ref();
    if (!construction.add_waiter(this)) settle();
  }
  Executor* home() const noexcept override { return &home_; }

 private:
  void settle() noexcept {
    StateBase* construction = std::exchange(construction_, nullptr);
    if (construction->has_error()) {
      complete_with_error(construction->error());  // no-op if this wait was cancelled
    } else {
      set_value();
    }
    construction->release();
    release();  // the waiter's reference
  }
  Executor& home_;
  StateBase* construction_;
};

// T can be built from these constructor arguments once resolved.
template <class T, class... Args>
constexpr bool constructs_from_resolved() {
  return []<std::size_t... I>(std::index_sequence<I...>) {
    return std::is_constructible_v<T, resolved_t<std::tuple_element_t<I, std::tuple<Args...>>>...>;
  }(kept_sequence<Args...>{});
}

// What a method returns, seen as a call's result: a value, Task<T>, Generator<T>.
template <class R>
struct actor_call_kind : task_kind<std::remove_cvref_t<R>> {};
template <class R>
  requires std::is_void_v<R>
struct actor_call_kind<R> : task_kind<void> {};

template <class T, class F, class... Args>
inline constexpr bool actor_resolves = resolves_arguments_after<F, std::tuple<T&>, Args...>;
template <class T, class F, class... Args>
using actor_method_result_t = typename call_result_after<F, std::tuple<T&>, Args...>::type;
template <class T, class F, class... Args>
using actor_call_value_t = typename actor_call_kind<actor_method_result_t<T, F, Args...>>::value_type;

// The argument futures of a call or of the construction, watched from the
// caller's side, so the mailbox only has to look (ready()) when the call's
// turn comes. Until they settle, the watching keeps the call and the actor
// alive; when they settle it nudges the mailbox, which may be holding the
// call for them.
template <std::size_t N>
class ActorArguments {
 public:
  template <class Tuple>
  void watch(Tuple& args, StateBase& call, ActorCoreBase& actor) noexcept {
    if constexpr (N > 0) {
      nudge_.call = &call;
      nudge_.actor = &actor;
      nudge_.run_work = [](Work* work) noexcept { static_cast<Nudge*>(work)->let_go(); };
      std::array<StateBase*, N> states{};
      std::size_t next = 0;
      std::apply([&](auto&... arg) { (collect(arg, states, next), ...); }, args);
      call.add_ref();
      actor.add_ref();
      deps_.watch(states, &ActorArguments::settled, this);
      deps_.release_guard();
    }
  }
  bool ready() const noexcept { return ready_.load(std::memory_order_acquire); }
  std::exception_ptr first_error() const noexcept {
    if constexpr (N > 0) {
      return deps_.first_error();
    } else {
      return nullptr;
    }
  }
  // Before the arguments go (they keep the states alive).
  void withdraw() noexcept {
    if constexpr (N > 0) deps_.withdraw();
  }

 private:
  struct Nudge : Work {
    StateBase* call = nullptr;
    ActorCoreBase* actor = nullptr;
    void let_go() noexcept {
      actor->release();
      call->release();
    }
  };

  template <class A, std::size_t M>
  static void collect(A& arg, std::array<StateBase*, M>& states, std::size_t& next) {
    if constexpr (is_future<A>::value) states[next++] = arg.state_ptr();
  }
  static void settled(void* self) noexcept {
    auto* arguments = static_cast<ActorArguments*>(self);
    arguments->ready_.store(true, std::memory_order_release);
    Nudge& nudge = arguments->nudge_;
    if (nudge.call->is_ready()) return nudge.let_go();  // it ended already (cancelled, dead actor)
    nudge.actor->enqueue(&nudge);  // a separate Work: the call's own may sit in the held list
  }

  [[no_unique_address]] std::conditional_t<(N > 0), DependencySet<N>, Unit> deps_{};
  [[no_unique_address]] std::conditional_t<(N > 0), Nudge, Unit> nudge_{};
  std::atomic<bool> ready_{N == 0};
};

template <class... Args>
bool has_empty_future(const std::tuple<Args...>& args) {
  bool empty = false;
  std::apply(
      [&](const auto&... arg) {
        (
            [&] {
              if constexpr (is_future<std::decay_t<decltype(arg)>>::value) empty = empty || !arg.valid();
            }(),
            ...);
      },
      args);
  return empty;
}

// Runs T's constructor on the mailbox, after its argument futures; its
// state is what ready() views.
template <class T, class... Args>
class ActorConstruct final : public TaskCompletion<ActorConstruct<T, Args...>, void>, public MailboxCall {
  using Completion = TaskCompletion<ActorConstruct<T, Args...>, void>;
  friend Completion;
  static constexpr std::size_t kDeps = dependency_count<true, Args...>();

 public:
  template <class... A>
  explicit ActorConstruct(ActorCore<T>& core, A&&... args)
      : Completion(2),  // one for the actor (ready()), one for the execution
        core_(core),
        home_(core.host().executor()) {
    args_.emplace(std::forward<A>(args)...);
    run_work = &ActorConstruct::start;
  }
  // Before the construction is queued.
  void watch_arguments() noexcept { arguments_.watch(*args_, *this, core_); }

  // Kept, not read through core_: a waiter asks for it after the call may
  // have completed, when the actor's core may already be gone.
  Executor* home() const noexcept override { return &home_; }
  bool arguments_ready() const noexcept override { return arguments_.ready(); }
  StateBase& call_state() noexcept override { return *this; }

 private:
  static void start(Work* work) noexcept {
    auto* self = static_cast<ActorConstruct*>(work);
    ActorCore<T>& core = self->core_;
    if (self->status() == Status::pending && !core.dead() && !core.host().stopping() && core.must_hold(*self)) {
      return core.hold(self);  // its argument futures are not ready yet
    }
    if (!self->try_start()) {
      core.construction_skipped();  // killed, or the runtime stopped, before its turn
      self->let_go_of_arguments();
    } else if (core.dead() || core.host().stopping()) {
      core.construction_skipped();
      self->begin_completion();
      self->publish_outcome(Outcome<void>::failed(core.death_error()));
    } else if (std::exception_ptr failed = self->arguments_.first_error()) {
      core.construction_failed(failed);
      self->begin_completion();
      self->publish_outcome(Outcome<void>::failed(core.death_error()));
    } else {
      Outcome<void> outcome = call_catching<void>([&] {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
          core.construct(pass_argument<true>(std::get<I>(*self->args_), true)...);
        }(kept_sequence<Args...>{});
      });
      if (outcome.error) {
        core.construction_failed(outcome.error);
        outcome.error = core.death_error();
      } else {
        core.object_constructed();
      }
      self->begin_completion();
      self->publish_outcome(std::move(outcome));
    }
    self->release();  // the execution's
  }

  void let_go_of_arguments() noexcept {
    arguments_.withdraw();
    args_.reset();
  }
  // For publish_outcome.
  void release_body() noexcept { let_go_of_arguments(); }
  ChannelCloser* channel() noexcept { return nullptr; }

  ActorCore<T>& core_;
  Executor& home_;
  std::optional<std::tuple<Args...>> args_;
  ActorArguments<kDeps> arguments_;
};

// One call: the method and its arguments, its result (it is the future's
// state) and its link in the mailbox.
template <class T, class F, class... Args>
class ActorCall final : public TaskCompletion<ActorCall<T, F, Args...>, actor_call_value_t<T, F, Args...>>,
                        public MailboxCall {
  using Returned = actor_method_result_t<T, F, Args...>;
  using Kind = actor_call_kind<Returned>;
  using Value = typename Kind::value_type;
  using Completion = TaskCompletion<ActorCall<T, F, Args...>, Value>;
  friend Completion;
  static constexpr bool kResolve = actor_resolves<T, F, Args...>;
  static constexpr std::size_t kDeps = dependency_count<kResolve, Args...>();

 public:
  template <class G, class... A>
  ActorCall(ActorCore<T>& core, G&& fn, A&&... args)
      : Completion(2),  // one for the future, one for the execution
        core_(core),
        home_(core.host().executor()) {
    body_.emplace(std::forward<G>(fn), std::forward<A>(args)...);
    run_work = &ActorCall::start;
  }

  // Before the call is queued.
  void watch_arguments() noexcept { arguments_.watch(body_->args, *this, core_); }
  bool has_empty_future() const { return detail::has_empty_future(body_->args); }
  template <class Channel>
  void set_channel(std::shared_ptr<Channel> channel) {
    channel_ = std::move(channel);
  }

  // Kept, not read through core_: a waiter asks for it after the call may
  // have completed, when the actor's core may already be gone.
  Executor* home() const noexcept override { return &home_; }
  bool arguments_ready() const noexcept override { return arguments_.ready(); }
  StateBase& call_state() noexcept override { return *this; }

 private:
  struct Body {
    template <class G, class... A>
    explicit Body(G&& f, A&&... a) : fn(std::forward<G>(f)), args(std::forward<A>(a)...) {}
    F fn;
    std::tuple<Args...> args;
  };

  static void start(Work* work) noexcept {
    auto* self = static_cast<ActorCall*>(work);
    ActorCore<T>& core = self->core_;
    if (core.dead()) {
      if (self->begin_completion()) self->publish_outcome(Outcome<Value>::failed(core.death_error()));
      return self->done_unstarted();
    }
    if (self->status() != Status::pending) return self->done_unstarted();  // cancelled while queued
    if (core.must_hold(*self)) return core.hold(self);
    if (!self->try_start()) return self->done_unstarted();
    if (std::exception_ptr failed = self->arguments_.first_error()) return self->finish(Outcome<Value>::failed(failed));
    if constexpr (Kind::coroutine) {
      self->start_coroutine();
    } else if (core.max_concurrency() > 1) {
      self->run_threaded();
    } else {
      self->run_plain();
    }
  }

  Returned invoke() { return invoke_with<kResolve>(body_->fn, body_->args, true, core_.object()); }

  void run_plain() noexcept {
    Outcome<Value> outcome;
    {
      ScopedTask scope(this, nullptr);
      outcome = call_catching<Value>([this]() -> decltype(auto) { return invoke(); });
    }
    finish(std::move(outcome));
  }

  // max_concurrency above 1: plain methods run on the runtime's threads,
  // up to that many at once, and finish back on the mailbox.
  void run_threaded() noexcept {
    core_.call_started(*this);
    run_work = [](Work* work) noexcept {
      auto* self = static_cast<ActorCall*>(work);
      {
        ScopedTask scope(self, nullptr);
        self->threaded_outcome_ = call_catching<Value>([self]() -> decltype(auto) { return self->invoke(); });
      }
      self->run_work = [](Work* back) noexcept {
        auto* call = static_cast<ActorCall*>(back);
        call->core_.call_finished(*call);
        call->finish(std::move(call->threaded_outcome_));
      };
      self->core_.post(self);
    };
    core_.runtime().post(this);
  }

  void start_coroutine() noexcept {
    std::coroutine_handle<typename Kind::promise_type> frame;
    {
      ScopedTask scope(this, nullptr);
      try {
        frame = invoke().release();
      } catch (...) {
        return finish(Outcome<Value>::failed(std::current_exception()));
      }
    }
    frame_ = frame;
    frame.promise().set_root(&ActorCall::coroutine_done, this, FrameContext{&core_, this, nullptr});
    if constexpr (Kind::generator) frame.promise().set_channel(channel_.get());
    core_.call_started(*this);
    Resumption start;
    start.handle = frame;
    start.frame = &frame.promise().frame_context();
    Resumption::resume_here(&start);  // to its first suspension, or to the end; `this` may be gone after
  }

  // From the coroutine's final suspension, on whichever thread resumed it:
  // on the mailbox unless it awaited something that is not fray's.
  static void coroutine_done(void* owner) noexcept {
    auto* self = static_cast<ActorCall*>(owner);
    if (ActorMailbox::current() == &self->core_) return self->complete_coroutine();
    self->run_work = [](Work* work) noexcept { static_cast<ActorCall*>(work)->complete_coroutine(); };
    self->core_.post(self);
  }

  void complete_coroutine() noexcept {
    Outcome<Value> outcome = take_coroutine_outcome<Value>(std::exchange(frame_, nullptr));
    core_.call_finished(*this);
    finish(std::move(outcome));
  }

  // On the mailbox. The outcome goes out after the mailbox is told, so a
  // caller that sees the result and calls again is not refused by
  // max_pending_calls.
  void finish(Outcome<Value>&& outcome) noexcept {
    if (this->cancel_requested()) {
      // Stopped by kill(): say so; by Future::cancel(): TaskCancelled.
      outcome = Outcome<Value>::failed(core_.dead() ? core_.death_error() : std::make_exception_ptr(TaskCancelled()));
    }
    ActorCore<T>& core = core_;
    core.call_done();
    this->begin_completion();
    this->publish_outcome(std::move(outcome));
    this->release();  // the execution's
    core.settle();
  }
  // Never started (already complete: cancelled, or failed by a dead actor).
  void done_unstarted() noexcept {
    ActorCore<T>& core = core_;
    core.call_done();
    this->release();
  }

  void cancelled_before_start(Status) noexcept override {
    this->publish_outcome(Outcome<Value>::failed(std::make_exception_ptr(TaskCancelled())));
  }

  // For publish_outcome.
  void release_body() noexcept {
    arguments_.withdraw();
    body_.reset();
  }
  ChannelCloser* channel() noexcept {
    if constexpr (Kind::generator) {
      return channel_.get();
    } else {
      return nullptr;
    }
  }

  ActorCore<T>& core_;
  Executor& home_;
  std::optional<Body> body_;
  ActorArguments<kDeps> arguments_;
  [[no_unique_address]] std::conditional_t<Kind::coroutine, std::coroutine_handle<typename Kind::promise_type>, Unit>
      frame_{};
  [[no_unique_address]] typename channel_of<std::remove_cvref_t<Returned>>::type channel_{};
  [[no_unique_address]] std::conditional_t<Kind::coroutine, Unit, Outcome<Value>> threaded_outcome_{};
};

}  // namespace fray::detail
