// Python actors: an instance of a Python class living in a worker process of
// its own in an isolated env, whose methods are called from C++ and return
// fray futures, as Ray's @ray.remote classes with a runtime_env.
//
//   auto counter = fray::create_python_actor(venv, "my_pkg.counters:Counter", 100);
//   fray::Future<int> n = counter.call<int>("add", 10);   // .get() == 110
//
// Calls run one at a time, in the order they were made. The constructor runs
// first, alone (calls wait until it has returned); if it raises, the actor
// is dead: ready() and every call fail with ActorDied (cause(): the
// PythonError). If the process dies (a crash, a call's timeout), with
// max_restarts left a new process runs the constructor again with the same
// arguments: the call that was running fails with WorkerCrashed (or runs
// again, with max_task_retries), and the calls that had not started run on
// the new instance, once each, in order. A constructor whose process dies 3
// times in a row ends the actor (ActorDied). Past max_restarts every call
// fails with ActorDied. Names work as for C++ actors: ActorNameTaken for a taken name
// without get_if_exists, get_python_actor(name) finds one. Python actors
// belong to no Runtime, so their names are the program's, apart from the
// names of any Runtime's C++ actors.
//
// Lifetime: a named actor lives until kill(actor). An unnamed one lives
// while handles to it exist, then until it has answered the calls made.
// While it lives it keeps its env on disk, as a WorkerPool does.
#pragma once

#include <boost/json/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "fray/detail/python_actor_core.hpp"
#include "fray/detail/worker_launch.hpp"
#include "fray/future.hpp"
#include "fray/isolated_virtual_env.hpp"
#include "fray/python_actor_options.hpp"
#include "fray/python_args.hpp"
#include "fray/python_errors.hpp"
#include "fray/python_function.hpp"

namespace fray {

namespace detail {
// Keeps the actor's process; the last handle's going ends an unnamed actor.
struct PythonActorRef {
  std::shared_ptr<PythonActorCore> core;
  explicit PythonActorRef(std::shared_ptr<PythonActorCore> c) : core(std::move(c)) {}
  PythonActorRef(const PythonActorRef&) = delete;
  ~PythonActorRef() { core->last_handle_gone(); }
};
void actor_submit(PythonActorCore& actor, PendingCall* call);
}  // namespace detail

class PythonActor {
 public:
  PythonActor() noexcept = default;
  explicit PythonActor(std::shared_ptr<detail::PythonActorRef> ref) noexcept : ref_(std::move(ref)) {}

  // Calls instance.method(args...); fray::kw(...) for keyword arguments.
  template <class R = boost::json::value, class... Args>
  Future<R> call(std::string_view method, Args&&... args) const {
    return call<R>(PythonCallOptions{}, method, std::forward<Args>(args)...);
  }
  // Unset options.max_retries, timeout and queue_timeout are the actor's
  // max_task_retries, call_timeout and call_queue_timeout.
  template <class R = boost::json::value, class... Args>
  Future<R> call(PythonCallOptions options, std::string_view method, Args&&... args) const {
    if (!ref_) return detail::failed_call<R>(std::make_exception_ptr(Error("empty fray PythonActor handle")));
    detail::PythonActorCore& core = *ref_->core;
    auto packed = detail::pack_arguments(std::forward<Args>(args)...);
    std::string request;
    try {
      options.check();
      request = detail::encode_request('m', method, std::move(packed), core.max_frame_bytes());
    } catch (...) {
      return detail::failed_call<R>(std::current_exception());
    }
    if (!options.max_retries) options.max_retries = core.options().max_task_retries;
    if (!options.timeout) options.timeout = core.options().call_timeout;
    if (!options.queue_timeout) options.queue_timeout = core.options().call_queue_timeout;
    auto* call = detail::new_call<R>(std::move(request), options, ref_->core);
    Future<R> future(call);
    detail::actor_submit(core, call);
    return future;
  }

  // Completes once the constructor has returned, through restarts of a
  // process it crashed (ActorDied if it raised, or the actor died first).
  Future<void> ready() const;
  bool valid() const noexcept { return ref_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  // False once killed, or dead past its restarts or by its constructor.
  bool alive() const;
  const std::string& name() const;
  // The pid of its current process; -1 while none runs.
  int pid() const;
  // How many times it was restarted after its process died.
  int restarts() const;

  friend bool operator==(const PythonActor& a, const PythonActor& b) noexcept {
    return a.ref_ == b.ref_ || (a.ref_ && b.ref_ && a.ref_->core == b.ref_->core);
  }

 private:
  friend void kill(const PythonActor& actor);
  detail::PythonActorCore& core() const;
  std::shared_ptr<detail::PythonActorRef> ref_;
};

namespace detail {
PythonActor create_python_actor_from(const IsolatedVirtualEnv& env, PythonActorOptions options,
                                     std::string_view class_name, PackedArgs&& args);
}  // namespace detail

// create_python_actor(venv, "pkg.module:Class", ctor args...) or
// create_python_actor(venv, options, "pkg.module:Class", ctor args...).
// Throws ActorNameTaken, ActorTypeMismatch (get_if_exists found another
// class), InvalidOptions, WorkerProgramNotFound, and UnsupportedJson or
// FrameTooLarge for constructor arguments that cannot be sent. Errors of
// the constructor itself surface on ready() and the calls, never here.
template <class... Args>
PythonActor create_python_actor(const IsolatedVirtualEnv& env, PythonActorOptions options, std::string_view class_name,
                                Args&&... args) {
  return detail::create_python_actor_from(env, std::move(options), class_name,
                                          detail::pack_arguments(std::forward<Args>(args)...));
}
template <class... Args>
PythonActor create_python_actor(const IsolatedVirtualEnv& env, std::string_view class_name, Args&&... args) {
  return detail::create_python_actor_from(env, PythonActorOptions{}, class_name,
                                          detail::pack_arguments(std::forward<Args>(args)...));
}

// The live Python actor named `name`; empty if there is none.
std::optional<PythonActor> get_python_actor(std::string_view name);

// Kills the actor (ray.kill): its process group is killed, calls not yet
// answered and every later call fail with ActorDied, its name is free at once.
void kill(const PythonActor& actor);

}  // namespace fray
