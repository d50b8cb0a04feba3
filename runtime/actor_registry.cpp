#include "fray/detail/actor_registry.hpp"

#include <vector>

#include "fray/detail/actor_core.hpp"
#include "fray/detail/task_host.hpp"
#include "fray/errors.hpp"

namespace fray::detail {

ActorRegistry::~ActorRegistry() = default;

ActorCoreBase* ActorRegistry::find(std::string_view name) {
  std::lock_guard guard(mutex_);
  auto it = names_.find(std::string(name));
  if (it == names_.end()) return nullptr;
  it->second->add_ref();
  return it->second;
}

ActorCoreBase* ActorRegistry::add(ActorCoreBase& actor, bool get_if_exists) {
  std::lock_guard guard(mutex_);
  // Under the lock that kill_all takes after `stopping` is set: an actor is
  // either refused here or listed before shutdown looks.
  if (host_.stopping()) throw RuntimeStopped();
  if (!actor.name().empty()) {
    auto [it, inserted] = names_.try_emplace(actor.name(), &actor);
    if (!inserted) {
      if (!get_if_exists) {
        throw ActorNameTaken(actor_name_taken_message(actor.name()));
      }
      it->second->add_ref();
      return it->second;
    }
    actor.add_ref();  // the name keeps a named actor alive
  }
  actors_.push_back(actor);
  host_.task_submitted();  // until its object is gone; shutdown waits for it
  return nullptr;
}

void ActorRegistry::remove_name(ActorCoreBase& actor) noexcept {
  if (actor.name().empty()) return;
  bool held = false;
  {
    std::lock_guard guard(mutex_);
    auto it = names_.find(actor.name());
    if (it != names_.end() && it->second == &actor) {
      names_.erase(it);
      held = true;
    }
  }
  if (held) actor.release();
}

void ActorRegistry::unlink(ActorCoreBase& actor) noexcept {
  std::lock_guard guard(mutex_);
  actors_.remove(actor);  // no-op once detached
}

void ActorRegistry::kill_all() noexcept {
  std::vector<ActorCoreBase*> names_released;
  {
    // Holding the lock keeps every listed actor from being freed meanwhile,
    // even one whose last reference is already gone.
    std::lock_guard guard(mutex_);
    actors_.for_each([&](ActorCoreBase& actor) {
      if (!actor.kill_for_shutdown_locked()) return;  // already dead
      if (actor.name().empty()) return;
      auto it = names_.find(actor.name());
      if (it != names_.end() && it->second == &actor) {
        names_.erase(it);
        names_released.push_back(&actor);
      }
    });
  }
  for (ActorCoreBase* actor : names_released) actor->release();
}

void ActorRegistry::detach_all() noexcept {
  std::lock_guard guard(mutex_);
  while (ActorCoreBase* actor = actors_.pop_front()) actor->detach_locked();
}

std::size_t ActorRegistry::size() const {
  std::lock_guard guard(mutex_);
  return actors_.size();
}

}  // namespace fray::detail
