// Actors: stateful objects whose methods are called from anywhere and run
// one call at a time on the actor's own serial executor (its mailbox, on
// the runtime's threads), as Ray's actors (@ray.remote class) and Python
// Fray's create_actor.
//
//   struct Counter {
//     explicit Counter(int start) : value(start) {}
//     int add(int n) { return value += n; }
//     int value;
//   };
//   auto counter = ctx.create_actor<Counter>(100);
//   fray::Future<int> sum = counter.call(&Counter::add, 10);   // .get() == 110
//
// A call returns the same Future as run(): get(), co_await, wait(), and
// passing it to a task all work. A method returning Task<T> is a coroutine:
// its resumptions come back through the mailbox, so with the default
// max_concurrency of 1 it still has the actor to itself until it returns;
// with max_concurrency N, up to N such calls interleave at their co_awaits.
// A method's exception goes to that call's future only. Calls from one
// thread (or one task) start in the order it made them.
//
// The constructor runs on the mailbox too, before any call. If it throws,
// the actor is dead: every call fails with ActorDied carrying its message.
//
// Lifetime: an unnamed actor lives while handles to it exist, and then
// until the calls already queued have run; then its destructor runs on the
// mailbox. A named actor lives until kill() or the runtime's shutdown,
// which destroys every actor. kill(): calls still queued fail with
// ActorDied, suspended coroutine calls are cancelled, the name is free at
// once, the destructor runs on the mailbox.
//
// With max_concurrency N above 1, plain methods run on the runtime's
// threads, up to N at once (Ray's threaded actors: guard the state they
// share), and coroutine methods interleave on the mailbox.
//
// Do not block in a method on a call to the same actor (it waits behind
// you), and have coroutine methods co_await fray's awaitables (futures,
// tasks, sleep, wait_async), which resume through the mailbox.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "fray/actor_options.hpp"
#include "fray/detail/actor_call.hpp"
#include "fray/detail/actor_core.hpp"
#include "fray/detail/actor_registry.hpp"
#include "fray/errors.hpp"
#include "fray/future.hpp"
#include "fray/job_context.hpp"

namespace fray {

template <class T>
class ActorHandle;
template <class T>
Future<void> kill(const ActorHandle<T>& actor);

// A reference to an actor: cheap to copy (one pointer and a reference
// count), thread-safe, and fine to capture in tasks, pass to other actors'
// methods, or put().
template <class T>
class ActorHandle {
  static constexpr std::size_t kDefaultStreamBuffer = 16;

 public:
  using actor_type = T;

  ActorHandle() noexcept = default;
  // Adopts one reference (create_actor and get_actor make handles).
  explicit ActorHandle(detail::ActorCore<T>* core) noexcept : core_(core) {}
  ActorHandle(const ActorHandle& other) noexcept : core_(other.core_) {
    if (core_ != nullptr) core_->add_ref();
  }
  ActorHandle(ActorHandle&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
  ActorHandle& operator=(ActorHandle other) noexcept {
    std::swap(core_, other.core_);
    return *this;
  }
  ~ActorHandle() {
    if (core_ != nullptr) core_->release();
  }

  // Calls std::invoke(method, object, args...) on the actor: `method` is a
  // member function pointer (&T::add) or anything callable with a T&.
  // Arguments are moved in and handed to the method as rvalues; futures and
  // object refs among them are resolved first, as for tasks (a method that
  // takes a Future gets the future itself). The result is a Future of what
  // the method returns (of T for a Task<T> method), or a Stream<T> for a
  // method returning Generator<T>. On a dead actor the future has already
  // failed with ActorDied; past max_pending_calls with ActorMailboxFull.
  template <class F, class... Args>
  auto call(F&& method, Args&&... args) const {
    using Fn = std::decay_t<F>;
    using Returned = detail::actor_method_result_t<T, Fn, std::decay_t<Args>...>;
    using Value = detail::actor_call_value_t<T, Fn, std::decay_t<Args>...>;
    using Call = detail::ActorCall<T, Fn, std::decay_t<Args>...>;
    detail::ActorCore<T>& core = checked_core();
    auto refuse = [&](std::exception_ptr error) {
      if constexpr (detail::is_generator<std::remove_cvref_t<Returned>>::value) {
        using Item = typename detail::task_kind<std::remove_cvref_t<Returned>>::item_type;
        auto channel = std::make_shared<detail::StreamChannel<Item>>(1);
        channel->close(error);
        return Stream<Item>(channel, detail::failed_future<void>(error), nullptr);
      } else {
        return detail::failed_future<Value>(error);
      }
    };
    if (core.dead()) return refuse(core.death_error());
    if (!core.reserve_call()) return refuse(core.mailbox_full_error());
    Call* node;
    try {
      node = new Call(core, std::forward<F>(method), std::forward<Args>(args)...);
    } catch (...) {
      core.call_done();
      throw;
    }
    if (node->has_empty_future()) {
      core.call_done();
      node->release();
      node->release();
      return refuse(std::make_exception_ptr(EmptyFuture()));
    }
    if constexpr (detail::is_generator<std::remove_cvref_t<Returned>>::value) {
      using Item = typename detail::task_kind<std::remove_cvref_t<Returned>>::item_type;
      auto channel = std::make_shared<detail::StreamChannel<Item>>(kDefaultStreamBuffer);
      node->set_channel(channel);
      Stream<Item> stream(channel, Future<void>(node), &core.host().event_loop());
      node->watch_arguments();
      core.enqueue(node);
      return stream;
    } else {
      Future<Value> result(node);
      node->watch_arguments();
      core.enqueue(node);
      return result;
    }
  }

  // Completes once the constructor has run (ActorDied if it threw), as
  // Ray's __ray_ready__.
  Future<void> ready() const { return checked_core().ready(); }

  bool valid() const noexcept { return core_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  // False once killed, stopped by shutdown, or failed to construct.
  bool alive() const noexcept { return core_ != nullptr && !core_->dead(); }
  // The actor's name; empty for an unnamed actor.
  const std::string& name() const { return checked_core().name(); }

  friend bool operator==(const ActorHandle& a, const ActorHandle& b) noexcept { return a.core_ == b.core_; }

 private:
  template <class U>
  friend Future<void> kill(const ActorHandle<U>& actor);

  detail::ActorCore<T>& checked_core() const {
    if (core_ == nullptr) throw Error("empty fray actor handle (default-constructed or moved from)");
    return *core_;
  }

  detail::ActorCore<T>* core_ = nullptr;
};

// Stops the actor (ray.kill): calls still queued fail with ActorDied,
// suspended coroutine calls are cancelled, its name is free at once, and
// its destructor runs on its mailbox as soon as no call is in progress. The
// future completes once the destructor has run. Killing twice is harmless.
template <class T>
Future<void> kill(const ActorHandle<T>& actor) {
  return actor.checked_core().kill();
}

namespace detail {

// Takes over one reference to `actor` as an ActorHandle<T>.
template <class T>
ActorHandle<T> adopt_actor(ActorCoreBase* actor) {
  if (actor->type() != typeid(T)) {
    std::string message = actor_type_mismatch_message(*actor, typeid(T));
    actor->release();
    throw ActorTypeMismatch(message);
  }
  return ActorHandle<T>(static_cast<ActorCore<T>*>(actor));
}

template <class T, class... Args>
ActorHandle<T> create_actor(TaskHost& host, ActorOptions options, Args&&... args) {
  static_assert(constructs_from_resolved<T, std::decay_t<Args>...>(),
                "create_actor<T>(args...): T has no constructor taking these arguments (passed as rvalues; "
                "futures and object refs among them as their values)");
  if (has_empty_future(std::tuple<const std::decay_t<Args>&...>(args...))) throw EmptyFuture();
  check_actor_options(host, options);
  const bool get_if_exists = options.get_if_exists;
  if (!options.name.empty()) {
    // Most lookups of an existing name end here, without building anything.
    if (ActorCoreBase* existing = host.actors().find(options.name)) {
      if (!get_if_exists) {
        existing->release();
        throw ActorNameTaken(actor_name_taken_message(options.name));
      }
      return adopt_actor<T>(existing);
    }
  }
  auto* core = new ActorCore<T>(host, std::move(options));
  using Construct = ActorConstruct<T, std::decay_t<Args>...>;
  Construct* construct;
  try {
    construct = new Construct(*core, std::forward<Args>(args)...);
  } catch (...) {
    delete core;
    throw;
  }
  // The construction goes first in the mailbox, before anyone can call
  // (the mailbox holds it until open()).
  core->set_construct(construct, construct);
  ActorCoreBase* existing;
  try {
    existing = host.actors().add(*core, get_if_exists);
  } catch (...) {
    core->discard();
    throw;
  }
  if (existing != nullptr) {  // the name was taken meanwhile
    core->discard();
    return adopt_actor<T>(existing);
  }
  construct->watch_arguments();
  core->open();
  return ActorHandle<T>(core);
}

template <class T, class First, class... Rest>
ActorHandle<T> create_actor_from(TaskHost& host, First&& first, Rest&&... rest) {
  if constexpr (std::is_same_v<std::decay_t<First>, ActorOptions>) {
    return create_actor<T>(host, ActorOptions(std::forward<First>(first)), std::forward<Rest>(rest)...);
  } else {
    return create_actor<T>(host, ActorOptions{}, std::forward<First>(first), std::forward<Rest>(rest)...);
  }
}

}  // namespace detail

// ctx.create_actor<T>(ctor args...) or ctx.create_actor<T>(options, ctor args...).
// Throws ActorNameTaken (name in use, no get_if_exists), ActorTypeMismatch
// (get_if_exists found another type), TaskUnschedulable (resources beyond
// the runtime's capacity), InvalidOptions, RuntimeStopped. Constructor
// errors surface on the calls (ActorDied), never here.
template <class T, class... Args>
ActorHandle<T> JobContext::create_actor(Args&&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return detail::create_actor<T>(host_, ActorOptions{});
  } else {
    return detail::create_actor_from<T>(host_, std::forward<Args>(args)...);
  }
}

// The live actor named `name` (ray.get_actor); empty if there is none;
// ActorTypeMismatch if it is not a T.
template <class T>
std::optional<ActorHandle<T>> JobContext::get_actor(std::string_view name) {
  detail::ActorCoreBase* actor = host_.actors().find(name);
  if (actor == nullptr) return std::nullopt;
  return detail::adopt_actor<T>(actor);
}

template <class T>
Future<void> JobContext::kill(const ActorHandle<T>& actor) {
  return fray::kill(actor);
}

// The ambient versions, for code inside tasks and actors.
template <class T, class... Args>
ActorHandle<T> create_actor(Args&&... args) {
  return current_context().create_actor<T>(std::forward<Args>(args)...);
}
template <class T>
std::optional<ActorHandle<T>> get_actor(std::string_view name) {
  return current_context().get_actor<T>(name);
}

}  // namespace fray
