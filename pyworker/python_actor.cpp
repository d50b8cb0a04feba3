#include "fray/python_actor.hpp"

#include <map>
#include <mutex>

namespace fray {

namespace detail {

void actor_submit(PythonActorCore& actor, PendingCall* call) { actor.submit(call); }

namespace {

// Named Python actors. Made after the worker I/O thread, so it is destroyed
// first at exit (its actors' processes are told to end while the thread runs).
struct NamedActors {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<PythonActorRef>, std::less<>> by_name;

  static NamedActors& instance() {
    worker_io();
    static NamedActors actors;
    return actors;
  }
};

}  // namespace

PythonActor create_python_actor_from(const IsolatedVirtualEnv& env, PythonActorOptions options,
                                     std::string_view class_name, PackedArgs&& args) {
  options.check_call_defaults();
  auto launch = make_worker_launch(env, options.env, options.cwd, options.max_frame_bytes, options.cancel_grace);
  std::string constructor = encode_request('c', class_name, std::move(args), launch->max_frame_bytes);
  const std::string name = options.name;
  if (name.empty()) {
    auto core = std::make_shared<PythonActorCore>(std::move(launch), env_lease(env), std::move(options),
                                                  std::string(class_name), std::move(constructor));
    core->start();
    return PythonActor(std::make_shared<PythonActorRef>(std::move(core)));
  }
  NamedActors& named = NamedActors::instance();
  std::lock_guard guard(named.mutex);
  if (auto it = named.by_name.find(name); it != named.by_name.end()) {
    if (!it->second->core->dead()) {
      if (!options.get_if_exists) {
        throw ActorNameTaken("a Python actor named '" + name + "' already exists (get_if_exists returns it)");
      }
      if (it->second->core->class_name() != class_name) {
        throw ActorTypeMismatch("the Python actor named '" + name + "' is a " + it->second->core->class_name() +
                                ", not a " + std::string(class_name));
      }
      return PythonActor(it->second);
    }
    named.by_name.erase(it);  // a dead actor's name is free
  }
  auto core = std::make_shared<PythonActorCore>(std::move(launch), env_lease(env), std::move(options),
                                                std::string(class_name), std::move(constructor));
  auto ref = std::make_shared<PythonActorRef>(core);
  named.by_name.emplace(name, ref);
  core->start();
  return PythonActor(std::move(ref));
}

}  // namespace detail

std::optional<PythonActor> get_python_actor(std::string_view name) {
  auto& named = detail::NamedActors::instance();
  std::lock_guard guard(named.mutex);
  auto it = named.by_name.find(name);
  if (it == named.by_name.end() || it->second->core->dead()) return std::nullopt;
  return PythonActor(it->second);
}

void kill(const PythonActor& actor) {
  detail::PythonActorCore& core = actor.core();
  core.kill();
  if (core.name().empty()) return;
  std::shared_ptr<detail::PythonActorRef> released;  // dropped after unlocking
  auto& named = detail::NamedActors::instance();
  std::lock_guard guard(named.mutex);
  auto it = named.by_name.find(core.name());
  if (it != named.by_name.end() && it->second->core.get() == &core) {
    released = std::move(it->second);
    named.by_name.erase(it);
  }
}

detail::PythonActorCore& PythonActor::core() const {
  if (!ref_) throw Error("empty fray PythonActor handle");
  return *ref_->core;
}

Future<void> PythonActor::ready() const { return core().ready(); }
bool PythonActor::alive() const { return ref_ && !ref_->core->dead(); }
const std::string& PythonActor::name() const { return core().name(); }
int PythonActor::pid() const { return core().pid(); }
int PythonActor::restarts() const { return core().restarts(); }

}  // namespace fray
