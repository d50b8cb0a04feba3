// PythonActorOptions: a Python actor's name, restarts and process options
// (Ray's actor options: name, get_if_exists, max_restarts, max_task_retries).
#pragma once

#include <string>
#include <utility>

#include "fray/worker_process_options.hpp"

namespace fray {

struct PythonActorOptions : WorkerProcessOptions<PythonActorOptions> {
  // Registers the actor under this name (get_python_actor finds it); a named
  // actor lives until kill(), handles or not.
  std::string name;
  // When the name is taken: hand back that actor (the new constructor
  // arguments are ignored) instead of failing with ActorNameTaken.
  bool get_if_exists = false;
  // How many times a new process re-runs the constructor after the actor's
  // process dies; -1: always. Past it, every call fails with ActorDied.
  int max_restarts = 0;
  // How many times a call that was running when the process died runs again
  // on the restarted actor (else it fails with WorkerCrashed); -1: always.
  int max_task_retries = 0;

  PythonActorOptions& with_name(std::string value) { name = std::move(value); return *this; }
  PythonActorOptions& with_get_if_exists(bool value = true) { get_if_exists = value; return *this; }
  PythonActorOptions& with_max_restarts(int value) { max_restarts = value; return *this; }
  PythonActorOptions& with_max_task_retries(int value) { max_task_retries = value; return *this; }
};

}  // namespace fray
