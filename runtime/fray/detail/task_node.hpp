// One submitted task: its function and arguments, its result (it is the
// future's shared state), its queue link, and what it needs before it can
// start (argument futures, resources). One allocation per task.
//
// Its life, and who moves it on (the "owner" of each stage):
//   submit ─> dependencies ─> admission ─> queued ─> running ─> finish
// Each stage's owner checks for a cancel when it hands the task on; a
// cancel that wins before the start publishes TaskCancelled at once and
// takes the task out of whatever it waits in. Every outcome (a value, an
// error, a cancel, the shutdown, a failed dependency) goes through
// publish_outcome(), the one exit path, which first lets go of the
// function, the arguments, the resources, the timers, the link to the
// parent task, and closes a streaming task's channel.
//
// References: the future's, the execution's, and the queue's (a thread
// blocked on the task may claim and run it while it still sits in a queue;
// the queue's popper then finds it claimed and drops its reference).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "fray/detail/argument_resolution.hpp"
#include "fray/detail/dependency_set.hpp"
#include "fray/detail/retry_policy.hpp"
#include "fray/detail/stack_budget.hpp"
#include "fray/detail/stream_channel.hpp"
#include "fray/detail/suspension.hpp"
#include "fray/detail/task_extras.hpp"
#include "fray/detail/task_host.hpp"
#include "fray/detail/task_outcome.hpp"

namespace fray::detail {

template <int>
struct Absent {};

// Levels of "the task I wait for waits for this one" a blocked thread
// follows to find something it may run itself.
inline constexpr int kMaxHelpDepth = 64;

std::exception_ptr cancel_error_for(const StateBase& state, const TaskExtras* extras);

template <class F, class... Args>
class TaskNode final
    : public TaskCompletion<TaskNode<F, Args...>, typename task_kind<call_result_t<F, Args...>>::value_type>,
      public Work {
  using Returned = call_result_t<F, Args...>;
  using Kind = task_kind<Returned>;
  using Value = typename Kind::value_type;
  using Completion = TaskCompletion<TaskNode<F, Args...>, Value>;
  friend Completion;
  static constexpr bool kResolve = resolves_arguments<F, Args...>;
  static constexpr std::size_t kDeps = dependency_count<kResolve, Args...>();
  // Tasks that always spend time outside a queue are listed for shutdown.
  static constexpr bool kListedByKind = kDeps > 0 || Kind::coroutine;
  // The function and its arguments, until the last attempt ends.
  struct Body {
    template <class G, class... A>
    explicit Body(G&& f, A&&... a) : fn(std::forward<G>(f)), args(std::forward<A>(a)...) {}
    F fn;
    std::tuple<Args...> args;
  };

 public:
  template <class G, class... A>
  TaskNode(TaskHost& host, std::unique_ptr<TaskExtras> extras, G&& fn, A&&... args)
      : Completion(3), host_(host), extras_(std::move(extras)) {
    ::new (static_cast<void*>(&body_)) Body(std::forward<G>(fn), std::forward<A>(args)...);
    has_body_ = true;
    this->run_work = &TaskNode::run_from_queue;
  }
  ~TaskNode() override { drop_body(); }

  // For streaming tasks: the channel the generator writes into.
  template <class Channel>
  void set_channel(std::shared_ptr<Channel> channel) {
    channel_ = std::move(channel);
  }

  // Hands the task to the runtime. Any failure goes to the future, never
  // to run(). The caller has adopted the future's reference.
  void submit() noexcept {
    if (host_.stopping()) return fail_unsubmitted(cancel_error_now(CancelReason::shutdown));
    if (kDeps > 0 || extras_ != nullptr) {  // else nothing to check: keep the common case's call out
      if (std::exception_ptr invalid = invalid_submission()) return fail_unsubmitted(std::move(invalid));
    }
    if constexpr (kDeps > 0) watch_dependencies();
    // From inside a task: cancelled with it (which may happen right here).
    if (StateBase* parent = current_task_state()) link_to_parent(*parent);
    if (needs_listing()) {
      live().state = this;
      listed_ = host_.enlist(live());
      if (!listed_) this->request_cancel(CancelReason::shutdown);
    }
    if constexpr (kDeps > 0) {
      deps_.release_guard();  // settles now or when the last future completes
    } else if (unshared()) {
      this->mark_queued_unshared();
      host_.executor().post_task(this);  // with the queue's reference
    } else {
      after_dependencies();
    }
  }

  Executor* home() const noexcept override { return &host_.executor(); }

  // A thread blocked on this task runs it here if it is queued, after
  // helping the tasks it waits for. Only threads of its own executor.
  bool run_here(Executor& executor, int depth) noexcept override {
    if (&executor != &host_.executor() || depth > kMaxHelpDepth || !stack_has_room()) return false;
    const Status status = this->status();
    bool helped = false;
    if constexpr (kDeps > 0) {
      if (status == Status::pending) helped = help_dependencies(executor, depth);
    }
    // A suspended coroutine, or a task blocked in get: what it waits for.
    if (status == Status::running) return this->help_waits(executor, depth);
    if (!this->try_claim()) return helped;
    run_claimed();  // the queue still holds its reference: the popper drops it
    return true;
  }

 private:
  // ---- Before the start ----------------------------------------------------
  std::exception_ptr invalid_submission() const {
    if constexpr (kDeps == 0) {
      if (extras_ == nullptr) return nullptr;  // the common case: nothing to check
    }
    try {
      if constexpr (kDeps > 0) {
        if (has_empty_future()) return std::make_exception_ptr(EmptyFuture());
      }
      if (extras_ == nullptr) return nullptr;
      const TaskOptions& options = extras_->options;
      if (options.max_retries < -1) {
        return std::make_exception_ptr(InvalidOptions("max_retries must be -1 (no limit) or more"));
      }
      if (options.max_retries != 0) {
        if constexpr (Kind::generator) {
          return std::make_exception_ptr(InvalidOptions(
              "a streaming task cannot be retried (items already handed out would come again): drop max_retries"));
        }
        if (!all_copyable<Args...>()) {
          return std::make_exception_ptr(
              InvalidOptions("max_retries needs copyable arguments (a retry runs the task again)"));
        }
      }
      if (options.timeout && options.timeout->count() <= 0) {
        return std::make_exception_ptr(InvalidOptions("a task's timeout must be positive"));
      }
      std::string why = host_.admission().why_unschedulable(options.resources);
      if (!why.empty()) return std::make_exception_ptr(TaskUnschedulable(fmt::format("task {}{}", label(), why)));
    } catch (...) {
      return std::current_exception();
    }
    return nullptr;
  }

  bool has_empty_future() const {
    bool empty = false;
    std::apply([&](const auto&... arg) { ((empty = empty || is_empty_future(arg)), ...); }, body_.args);
    return empty;
  }
  template <class A>
  static bool is_empty_future(const A& arg) {
    if constexpr (is_future<A>::value) {
      return !arg.valid();
    } else {
      return false;
    }
  }

  std::string label() const {
    return extras_ != nullptr && !extras_->options.name.empty() ? "'" + extras_->options.name + "' " : std::string();
  }

  // Nothing of the runtime knows the task yet.
  void fail_unsubmitted(std::exception_ptr error) noexcept {
    this->begin_completion();
    this->publish_outcome(Outcome<Value>::failed(std::move(error)));
    this->release(2);  // the execution's and the unused queue's
  }

  // At submission, before the future is handed out: with no parent, no
  // shutdown list and no line for resources, no other thread can reach the
  // task (to cancel it) until it is queued.
  bool unshared() const noexcept {
    return parent_link_ == nullptr && !needs_listing() && !admitted_by_resources();
  }

  bool needs_listing() const noexcept {
    if constexpr (kListedByKind) {
      return true;
    } else {
      return extras_ != nullptr &&
             (extras_->has_resources() || extras_->options.timeout || extras_->options.retry_backoff.initial.count() > 0);
    }
  }
  LiveTask& live() noexcept {
    if constexpr (kListedByKind) {
      return live_;
    } else {
      return extras_->live;
    }
  }

  void link_to_parent(StateBase& parent) noexcept {
    try {
      parent_link_ = std::make_unique<ParentLink>(parent.children_token(), this);
    } catch (...) {
      // Out of memory: the child is simply not cancelled with its parent.
    }
  }

  void watch_dependencies() noexcept {
    std::array<StateBase*, kDeps> states{};
    std::size_t next = 0;
    std::apply([&](const auto&... arg) { (collect_state(arg, states, next), ...); }, body_.args);
    deps_.watch(states, &TaskNode::dependencies_settled, this);
  }
  template <class A>
  static void collect_state(const A& arg, std::array<StateBase*, kDeps>& states, std::size_t& next) {
    if constexpr (is_future<A>::value) states[next++] = arg.state_ptr();
  }
  static void dependencies_settled(void* owner) noexcept { static_cast<TaskNode*>(owner)->after_dependencies(); }

  void after_dependencies() noexcept {
    if (this->status() != Status::pending) return retire_unqueued();  // cancelled meanwhile
    admit();
  }

  // The sync context runs one task at a time on one thread: its tasks'
  // requests are checked (TaskUnschedulable) but not admitted, because a
  // task admitted there and not yet run would hold resources that the task
  // blocked above it on the same stack may need.
  bool admitted_by_resources() const noexcept {
    return extras_ != nullptr && extras_->has_resources() && !host_.is_inline();
  }

  void admit() noexcept {
    if (!admitted_by_resources()) return enqueue();
    AdmissionTicket& ticket = extras_->ticket;
    ticket.request = &extras_->options.resources;
    ticket.state = this;
    ticket.run_in_place = true;  // it only moves the task on to the queue
    ticket.start = &extras_->admitted;
    extras_->admitted.run_work = &TaskNode::on_admitted;
    extras_->admitted.task = this;
    // A cancel between the status check and the queueing cannot withdraw
    // the ticket yet: we do. Pinned, since once queued it may run and end.
    this->add_ref();
    if (host_.admission().acquire_or_queue(ticket)) {
      enqueue();
    } else if (this->status() != Status::pending && host_.admission().withdraw(ticket, host_.executor())) {
      retire_unqueued();
    }
    this->release();
  }
  static void on_admitted(Work* work) noexcept { owner_of(work)->enqueue(); }
  static TaskNode* owner_of(Work* work) noexcept {
    return static_cast<TaskNode*>(static_cast<TaskExtras::OwnedWork*>(work)->task);
  }

  void enqueue() noexcept {
    if (!this->mark_queued()) return retire_unqueued();  // cancelled meanwhile
    host_.executor().post_task(this);  // with the queue's reference
  }

  // A cancel won before the start.
  void cancelled_before_start(Status was) noexcept override {
    // Before the arguments go: they may hold the last reference to a state
    // whose waiter we take back. This may settle, and the settling retires
    // the task (the cancel holds a reference of its own meanwhile).
    if constexpr (kDeps > 0) deps_.withdraw();
    // The parent's cancel may run this while submit() is still storing the
    // link: the destructor lets go of it instead.
    link_outlives_outcome_ = true;
    this->publish_outcome(Outcome<Value>::failed(cancel_error()));
    if (was == Status::queued) {
      // The queue's popper will find it cancelled and drop only its own reference.
      retire();
      this->release();
    } else if (admitted_by_resources() && host_.admission().withdraw(extras_->ticket, host_.executor())) {
      retire_unqueued();
    }
    // Otherwise the owner of its stage sees the cancel when it moves it on.
  }

  // ---- Running -------------------------------------------------------------
  // The popper of a queue.
  static void run_from_queue(Work* work) noexcept {
    auto* self = static_cast<TaskNode*>(work);
    if (!self->try_claim()) return self->release();  // claimed elsewhere, or cancelled: the queue's reference
    // A plain task without a back-off always finishes before run_claimed
    // returns, on this thread: one release then covers both references.
    const bool synchronous = !Kind::coroutine && (self->extras_ == nullptr || self->extras_->options.retry_backoff.initial.count() == 0);
    self->popper_releases_ = synchronous;
    self->run_claimed();
    self->release(synchronous ? 2 : 1);
  }

  void run_claimed() noexcept {
    if (host_.stopping()) return finish(Outcome<Value>::failed(cancel_error_now(CancelReason::shutdown)));
    if constexpr (kDeps > 0) {
      if (std::exception_ptr failed = deps_.first_error()) return finish(Outcome<Value>::failed(std::move(failed)));
    }
    if (extras_ != nullptr) {
      if (admitted_by_resources()) extras_->lease.bind(host_.admission(), host_.executor(), extras_->options.resources);
      if (extras_->options.timeout) arm_timeout();
    }
    attempt();
  }

  ResourceLease* lease() noexcept {
    return extras_ != nullptr && extras_->lease.active() ? &extras_->lease : nullptr;
  }

  bool last_attempt() const noexcept { return extras_ == nullptr || !attempts_left(extras_->options, attempts_); }

  Returned invoke() { return invoke_with<kResolve>(body_.fn, body_.args, last_attempt()); }

  bool should_retry(const std::exception_ptr& error) const noexcept {
    if (last_attempt() || this->cancel_requested() || host_.stopping()) return false;
    try {
      return retries_error(extras_->options, error);
    } catch (...) {
      return false;  // a retry_if that throws: no retry
    }
  }

  void attempt() noexcept {
    if constexpr (Kind::coroutine) {
      start_coroutine();
    } else {
      run_plain();
    }
  }

  void run_plain() noexcept {
    Outcome<Value> outcome = run_once();
    while (outcome.error && should_retry(outcome.error)) {
      ++attempts_;
      if (retry_delay(extras_->options, attempts_).count() > 0) return wait_to_retry();
      outcome = run_once();
    }
    finish(std::move(outcome));
  }
  // Built in place: a copy of a just-written Outcome reads back as one word
  // what was stored as a value and a flag, which stalls store forwarding.
  Outcome<Value> run_once() noexcept {
    ScopedTask scope(this, lease());
    return call_catching<Value>([this]() -> decltype(auto) { return invoke(); });
  }

  void start_coroutine() noexcept {
    std::coroutine_handle<typename Kind::promise_type> frame;
    {
      ScopedTask scope(this, lease());  // the body may start children before its first suspension
      try {
        frame = invoke().release();
      } catch (...) {
        return attempt_failed(std::current_exception());
      }
    }
    frame_ = frame;
    frame.promise().set_root(&TaskNode::coroutine_done, this, FrameContext{&host_.executor(), this, lease()});
    if constexpr (Kind::generator) frame.promise().set_channel(channel_.get());
    Resumption start;
    start.handle = frame;
    start.frame = &frame.promise().frame_context();
    Resumption::resume_here(&start);  // runs to its first suspension, or to the end
  }

  static void coroutine_done(void* owner) noexcept {
    auto* self = static_cast<TaskNode*>(owner);
    Outcome<Value> outcome = take_coroutine_outcome<Value>(std::exchange(self->frame_, nullptr));
    if (outcome.error) return self->attempt_failed(std::move(outcome.error));
    self->finish(std::move(outcome));
  }

  void attempt_failed(std::exception_ptr error) noexcept {
    if (!should_retry(error)) return finish(Outcome<Value>::failed(std::move(error)));
    ++attempts_;
    if (retry_delay(extras_->options, attempts_).count() > 0) return wait_to_retry();
    prepare_retry();
    host_.executor().post(&extras_->retry);
  }
  void prepare_retry() noexcept {
    extras_->retry.run_work = [](Work* work) noexcept { owner_of(work)->retry_attempt(); };
    extras_->retry.task = this;
  }
  void retry_attempt() noexcept {
    if (host_.stopping()) return finish(Outcome<Value>::failed(cancel_error_now(CancelReason::shutdown)));
    if (this->cancel_requested()) return finish(Outcome<Value>::failed(cancel_error()));
    attempt();
  }

  // ---- Retry back-off --------------------------------------------------------
  // The resources go back meanwhile; cancel() ends the wait.
  void wait_to_retry() noexcept {
    release_resources();
    const auto delay = retry_delay(extras_->options, attempts_);
    extras_->backoff_hook.on_cancel = [](CancelHook* hook) noexcept {
      static_cast<TaskExtras::BackoffHook*>(hook)->extras->backoff->cancel();
    };
    extras_->backoff_hook.extras = extras_.get();
    auto start_timer = [this, delay]() noexcept {
      try {
        extras_->backoff = host_.event_loop().start_timer(Clock::now() + delay,
                                                          [this](bool expired) { backoff_over(expired); });
        return true;
      } catch (...) {
        return false;
      }
    };
    if (!this->suspend_with_cancel_hook(&extras_->backoff_hook, start_timer)) {
      finish(Outcome<Value>::failed(this->cancel_requested() ? cancel_error() : std::make_exception_ptr(std::bad_alloc())));
    }
  }
  void backoff_over(bool expired) noexcept {
    this->clear_cancel_hook();
    if (!expired || this->cancel_requested() || host_.stopping()) {
      return finish(Outcome<Value>::failed(host_.stopping() ? cancel_error_now(CancelReason::shutdown) : cancel_error()));
    }
    prepare_retry();
    if (!admitted_by_resources()) return host_.executor().post_task(&extras_->retry);
    wait_for_readmission();
  }

  // Back in line for the resources, like any task, and cancellable there.
  void wait_for_readmission() noexcept {
    AdmissionTicket& ticket = extras_->ticket;
    ticket.run_in_place = false;
    ticket.starts_task = true;
    ticket.start = &extras_->admitted;
    ticket.state = nullptr;
    ticket.holds_resources = false;
    extras_->admitted.run_work = [](Work* work) noexcept {
      TaskNode* self = owner_of(work);
      self->clear_cancel_hook();
      self->retry_attempt();
    };
    extras_->admitted.task = this;
    auto& hook = extras_->readmission_hook;
    hook.task = this;
    hook.executor = &host_.executor();
    hook.withdraw.task = this;
    hook.withdraw.run_work = [](Work* work) noexcept { owner_of(work)->withdraw_from_line(); };
    hook.posted = false;
    hook.on_cancel = [](CancelHook* base) noexcept {
      auto* hook = static_cast<TaskExtras::ReadmissionHook*>(base);
      if (std::exchange(hook->posted, true)) return;
      hook->task->add_ref();  // the posted withdrawal's
      hook->executor->post(&hook->withdraw);
    };
    bool admitted_now = false;
    auto queue = [&]() noexcept { return !(admitted_now = host_.admission().acquire_or_queue(ticket)); };
    if (this->suspend_with_cancel_hook(&hook, queue)) return;  // in line: admitted or withdrawn later
    if (admitted_now) return host_.executor().post_task(&extras_->retry);
    finish(Outcome<Value>::failed(cancel_error()));  // cancelled before it queued
  }
  // A cancel reached the retry in the line (or just after it left it).
  void withdraw_from_line() noexcept {
    if (host_.admission().withdraw(extras_->ticket, host_.executor())) {
      this->clear_cancel_hook();
      retry_attempt();  // sees the cancel
    }
    this->release();  // the hook's
  }

  // ---- Timeout -------------------------------------------------------------
  void arm_timeout() noexcept {
    this->add_ref();  // the timer's, dropped when its callback runs
    try {
      extras_->timeout = host_.event_loop().start_timer(Clock::now() + *extras_->options.timeout, [this](bool expired) {
        if (expired) this->request_cancel(CancelReason::timeout);
        this->release();
      });
    } catch (...) {
      this->release();  // no timer (out of memory): no timeout
    }
  }

  // ---- The end -----------------------------------------------------------------
  std::exception_ptr cancel_error() const { return cancel_error_for(*this, extras_.get()); }
  static std::exception_ptr cancel_error_now(CancelReason reason) {
    return reason == CancelReason::shutdown ? std::make_exception_ptr(TaskCancelled("the runtime is shutting down"))
                                            : std::make_exception_ptr(TaskCancelled());
  }

  // The execution's end, by whoever ran it.
  void finish(Outcome<Value>&& outcome) noexcept {
    if (this->cancel_requested()) {
      // The result is discarded; the reason is what it reports.
      outcome = Outcome<Value>::failed(cancel_error());
    }
    this->mark_completing();  // only the running thread completes a running task
    release_resources();      // before the result is visible: a caller that saw it sees them free
    this->publish_outcome(std::move(outcome));
    retire();
    // The execution's reference; a queue's popper that runs a plain task
    // drops it together with its own.
    if (!popper_releases_) this->release();
  }

  // For publish_outcome, the one exit path (task_outcome.hpp).
  void drop_body() noexcept {
    if (std::exchange(has_body_, false)) body_.~Body();
  }
  void release_body() noexcept {
    drop_body();
    if (extras_ != nullptr) {
      if (extras_->timeout) extras_->timeout->cancel();
      if (extras_->backoff) extras_->backoff->cancel();
    }
    if (!link_outlives_outcome_) parent_link_.reset();
  }
  ChannelCloser* channel() noexcept {
    if constexpr (Kind::generator) {
      return channel_.get();
    } else {
      return nullptr;
    }
  }

  void release_resources() noexcept {
    if (extras_ == nullptr || !extras_->ticket.holds_resources) return;
    extras_->ticket.holds_resources = false;
    Resources back = extras_->options.resources;
    if (extras_->lease.lent_out()) back.subtract(extras_->lease.cpu());  // never came back
    host_.admission().release(back, host_.executor());
  }

  // The runtime no longer has to wait for it.
  void retire() noexcept {
    release_resources();
    if (listed_) host_.delist(live());
  }
  void retire_unqueued() noexcept {
    retire();
    this->release(2);  // the execution's and the unused queue's
  }

  bool help_dependencies(Executor& executor, int depth) noexcept {
    bool ran = false;
    if constexpr (kDeps > 0) {
      std::array<StateBase*, kDeps> pinned{};
      std::size_t count = 0;
      {
        // Pending under our lock: no cancel has begun, so the arguments
        // (which keep the states alive) are still there.
        std::lock_guard guard(this->lock());
        if (this->status() != Status::pending) return false;
        count = deps_.pin_pending(pinned);
      }
      for (std::size_t i = 0; i < count; ++i) {
        ran = pinned[i]->run_here(executor, depth + 1) || ran;
        pinned[i]->release();
      }
    }
    return ran;
  }

  TaskHost& host_;
  std::unique_ptr<TaskExtras> extras_;
  std::unique_ptr<ParentLink> parent_link_;
  int attempts_ = 0;
  bool listed_ = false;
  bool popper_releases_ = false;        // set and read only by the thread running a plain task
  bool has_body_ = false;
  bool link_outlives_outcome_ = false;  // written only by a cancel that won before the start
  // The function and arguments, destroyed by drop_body() (a union, so that
  // its "alive" flag shares a word with the fields above).
  union {
    Body body_;
  };
  [[no_unique_address]] DependencySet<kDeps> deps_;
  // Absent members take no room (each empty stand-in is of its own type).
  [[no_unique_address]] std::conditional_t<kListedByKind, LiveTask, Absent<1>> live_{};
  [[no_unique_address]] std::conditional_t<Kind::coroutine, std::coroutine_handle<typename Kind::promise_type>, Absent<2>>
      frame_{};
  [[no_unique_address]] std::conditional_t<Kind::generator, typename channel_of<Returned>::type, Absent<3>> channel_{};
};

}  // namespace fray::detail
