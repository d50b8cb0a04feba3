// The actors of one job context: the table of names (get_actor, duplicate
// names, get_if_exists) and the list of every live actor, named or not, so
// that shutdown can stop them all. Owned by the TaskHost.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "fray/detail/intrusive_list.hpp"

namespace fray::detail {

class ActorCoreBase;
class TaskHost;
struct RegisteredActors {};

class ActorRegistry {
 public:
  explicit ActorRegistry(TaskHost& host) noexcept : host_(host) {}
  ActorRegistry(const ActorRegistry&) = delete;
  ~ActorRegistry();

  // The live actor named `name`, with a reference added for the caller;
  // null if there is none.
  ActorCoreBase* find(std::string_view name);
  // Lists a new actor, and names it if it has a name (the name then holds a
  // reference). If another live actor has the name: with `get_if_exists`
  // that one is returned, with a reference added; otherwise ActorNameTaken.
  // Once shutdown has begun: RuntimeStopped. Null when `actor` was listed.
  ActorCoreBase* add(ActorCoreBase& actor, bool get_if_exists);
  // Frees the actor's name if it still holds it, and drops the name's reference.
  void remove_name(ActorCoreBase& actor) noexcept;
  // The actor is being freed.
  void unlink(ActorCoreBase& actor) noexcept;

  // Shutdown: kills every actor (their destructors then run on their
  // mailboxes, which the executor still drains) ...
  void kill_all() noexcept;
  // ... and once the executor has stopped, cuts the survivors loose from
  // the runtime: an actor whose last handle goes later is freed in place.
  void detach_all() noexcept;

  // Live actors (not yet freed), for tests and diagnostics.
  std::size_t size() const;

 private:
  TaskHost& host_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, ActorCoreBase*> names_;
  IntrusiveList<ActorCoreBase, RegisteredActors> actors_;  // every live actor
};

}  // namespace fray::detail
