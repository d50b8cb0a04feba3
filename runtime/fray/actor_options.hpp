// Per-actor options, following Ray's actor options: name, get_if_exists,
// max_concurrency, resources (num_cpus, num_gpus, ...), max_pending_calls.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "fray/resources.hpp"

namespace fray {

struct ActorOptions {
  // Registers the actor under this name, so get_actor finds it. A named actor
  // lives until it is killed or the runtime stops, handles or not.
  std::string name;
  // When `name` is taken: hand back the existing actor (the new constructor
  // arguments are ignored) instead of failing with ActorNameTaken.
  bool get_if_exists = false;
  // How many calls may be in progress at once. Above 1, coroutine methods
  // interleave at their suspension points; calls still start in order.
  std::size_t max_concurrency = 1;
  // Held from construction to destruction, admitted like a task's: the
  // constructor waits until they are free. More than the runtime has in
  // total fails create_actor with TaskUnschedulable.
  Resources resources;
  // Calls queued or running beyond this many fail at once with
  // ActorMailboxFull; 0 means no limit.
  std::size_t max_pending_calls = 0;

  ActorOptions& with_name(std::string value) { name = std::move(value); return *this; }
  ActorOptions& with_get_if_exists(bool value = true) { get_if_exists = value; return *this; }
  ActorOptions& with_max_concurrency(std::size_t value) { max_concurrency = value; return *this; }
  ActorOptions& with_resources(Resources value) { resources = std::move(value); return *this; }
  ActorOptions& with_max_pending_calls(std::size_t value) { max_pending_calls = value; return *this; }
};

}  // namespace fray
