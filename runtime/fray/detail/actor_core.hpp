// What an actor is inside: one allocation holding its mailbox, its object
// (constructed on the mailbox, not by the caller), its reference count and
// its lifecycle; the construction and each call are nodes posted to the
// mailbox, each one allocation that is also the call's future state.
//
// Lifecycle. Handles (and the name, for a named actor) hold references;
// calls do not, because the actor is only freed through its own mailbox,
// behind every call already queued. When the last reference goes, a
// "last reference" item is posted: queued calls run first, then the object
// is destroyed on the mailbox and the actor freed. kill() instead marks the
// actor dead at once: queued calls fail with ActorDied, suspended coroutine
// calls are cancelled, the name is freed, and the object is destroyed on the
// mailbox as soon as no call is in progress.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "fray/actor_options.hpp"
#include "fray/detail/actor_mailbox.hpp"
#include "fray/detail/resource_admission.hpp"
#include "fray/detail/task_host.hpp"
#include "fray/errors.hpp"
#include "fray/future.hpp"

namespace fray::detail {

// Why an actor died, set once (the first reason wins).
struct ActorDeath {
  std::exception_ptr error;              // an ActorDied, shared by every failed call
  SharedState<void>* stopped = nullptr;  // completes once the object is gone
};

class ActorCoreBase : public ActorMailbox, public ListHook<RegisteredActors> {
 public:
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) last_reference_gone();
  }

  TaskHost& host() const noexcept { return host_; }
  const std::string& name() const noexcept { return name_; }
  const std::type_info& type() const noexcept { return type_; }
  // "actor 'counter' (Counter)", or "actor Counter" when unnamed.
  std::string describe() const;

  bool dead() const noexcept { return death_.load(std::memory_order_acquire) != nullptr; }
  // Only once dead(): the ActorDied every failing call gets.
  const std::exception_ptr& death_error() const noexcept {
    return death_.load(std::memory_order_acquire)->error;
  }
  // Any thread that holds a reference. The future completes once the
  // object's destructor has run (at once if it never was constructed).
  Future<void> kill();
  // Completes when the constructor has run; ActorDied if it threw.
  // Cancelling this future does not touch the actor (it is a view).
  Future<void> ready() const;

  // max_pending_calls: false (and nothing counted) when the mailbox is full.
  bool reserve_call() noexcept {
    if (max_pending_calls_ == 0) return true;
    if (pending_calls_.fetch_add(1, std::memory_order_relaxed) < max_pending_calls_) return true;
    pending_calls_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  void call_done() noexcept {
    if (max_pending_calls_ != 0) pending_calls_.fetch_sub(1, std::memory_order_relaxed);
  }
  std::exception_ptr mailbox_full_error() const;

  // ---- Creation (create_actor) ----
  // The construction node: the first work in the mailbox; the actor keeps a
  // reference to it for ready().
  void set_construct(SharedState<void>* construct, Work* work) noexcept;
  // Lets the mailbox run: now, or once the actor's resources are admitted.
  void open();
  // Frees an actor that was never opened nor listed (its name was taken).
  void discard() noexcept;

  // ---- On the mailbox ----
  void object_constructed() noexcept { object_ = ObjectState::alive; }
  void construction_failed(std::exception_ptr cause) noexcept;
  void construction_skipped() noexcept;
  // Destroys the object, and frees the actor, when their time has come
  // (dead, or unreferenced, and no call in progress). Called after
  // anything that may make it so; costs two loads otherwise.
  void settle() noexcept {
    if (closing_ || dead()) settle_ending();
  }

  // ---- Registry (under its lock) ----
  // Shutdown's kill: as kill(), but with the registry locked by the caller,
  // which frees the name itself. False if the actor was dead already.
  bool kill_for_shutdown_locked() noexcept;
  // The runtime has stopped: a last reference dropped later frees in place.
  void detach_locked() noexcept { detached_.store(true, std::memory_order_release); }

 protected:
  ActorCoreBase(TaskHost& host, ActorOptions&& options, const std::type_info& type);
  ~ActorCoreBase() override;

  virtual void destroy_object() noexcept = 0;

 private:
  enum class ObjectState : unsigned char { unborn, alive, gone };
  struct CoreWork : Work {
    ActorCoreBase* core = nullptr;
  };

  // Installs the death note unless there is one; true if this one won.
  bool die(std::string message, std::exception_ptr cause);
  // After die() won: construction that has not started never will, and the
  // mailbox fails what is queued.
  void stop_after_death() noexcept;
  void last_reference_gone() noexcept;
  void settle_ending() noexcept;
  // Posts the first drain, once (admission and kill() may both try).
  void open_mailbox() noexcept {
    if (!opened_.exchange(true, std::memory_order_acq_rel)) ActorMailbox::open();
  }
  void end_object_phase() noexcept;
  void on_closed() noexcept override;
  static void on_kill(Work* work) noexcept;
  static void on_last_reference(Work* work) noexcept;
  static void on_admitted(Work* work) noexcept;
  static void on_late_admission(Work* work) noexcept;

  TaskHost& host_;
  const std::type_info& type_;
  std::atomic<std::uint32_t> refs_{1};
  std::atomic<ActorDeath*> death_{nullptr};
  std::atomic<bool> detached_{false};
  std::atomic<std::size_t> pending_calls_{0};
  const std::size_t max_pending_calls_;
  std::string name_;
  Resources resources_;
  AdmissionTicket ticket_;
  // While the ticket is in the admission line it holds a reference (the
  // line links into this actor), and only the line writes holds_resources.
  std::atomic<bool> ticket_pending_{false};
  std::atomic<bool> opened_{false};
  SharedState<void>* construct_ = nullptr;
  CoreWork kill_work_;
  CoreWork last_reference_work_;
  CoreWork admitted_work_;
  CoreWork late_admission_work_;
  ObjectState object_ = ObjectState::unborn;  // on the mailbox
  bool closing_ = false;                      // on the mailbox: no references left
};

template <class T>
class ActorCore final : public ActorCoreBase {
 public:
  ActorCore(TaskHost& host, ActorOptions&& options) : ActorCoreBase(host, std::move(options), typeid(T)) {}

  T& object() noexcept { return *std::launder(reinterpret_cast<T*>(&storage_)); }
  template <class... A>
  void construct(A&&... args) {
    ::new (static_cast<void*>(&storage_)) T(std::forward<A>(args)...);
  }

 private:
  void destroy_object() noexcept override { object().~T(); }

  alignas(T) unsigned char storage_[sizeof(T)];
};

// Throws InvalidOptions or TaskUnschedulable for options that can never work.
void check_actor_options(TaskHost& host, const ActorOptions& options);
std::string actor_name_taken_message(std::string_view name);
std::string actor_type_mismatch_message(const ActorCoreBase& actor, const std::type_info& wanted);

// A future that failed before any work was queued.
template <class V>
Future<V> failed_future(std::exception_ptr error) {
  auto* state = new SharedState<V>(1);
  state->complete_with_error(std::move(error));
  return Future<V>(state);
}

}  // namespace fray::detail
