#include "fray/detail/blocking.hpp"

#include "fray/detail/suspension.hpp"

namespace fray::detail {

namespace {

// The executor whose queue may hold what sets the signal.
Executor* home_of(std::span<StateBase* const> states) noexcept {
  for (StateBase* state : states) {
    if (state == nullptr || state->is_ready()) continue;
    if (Executor* home = state->home()) return home;  // a promise's future has none: look further
  }
  return nullptr;
}

bool wait_for_signal(Signal& signal, std::span<StateBase* const> helpable, const Deadline& deadline) {
  if (Blocker* blocker = current_blocker()) return blocker->block(BlockRequest{signal, deadline, helpable});
  Executor* home = home_of(helpable);
  if (home != nullptr && home->is_inline()) return home->drive_until(signal, deadline);
  return spin_briefly([&] { return signal.is_set(); }) || signal.wait_until(deadline);
}

}  // namespace

bool park_until_ready(StateBase& state, const Deadline& deadline, bool spin) {
  if (state.is_ready()) return true;
  if (spin && spin_briefly([&] { return state.is_ready(); })) return true;
  SignalWaiter waiter;
  if (!state.add_waiter(&waiter)) return true;
  if (waiter.signal.wait_until(deadline) || !state.remove_waiter(&waiter)) {
    // Completion took the waiter and is (or was) notifying it: let it finish.
    waiter.signal.wait_until(std::nullopt);
    waiter.signal.settle();
    return true;
  }
  return false;
}

// A blocking call inside a task that was cancelled ends with TaskCancelled.
void throw_if_task_cancelled() {
  if (current_task_cancelled()) throw TaskCancelled();
}

bool block_until_ready(StateBase& state, const Deadline& deadline) {
  if (state.is_ready()) return true;
  if (Blocker* blocker = current_blocker()) {
    // Most often the task is queued right here: run it before setting up a wait.
    if (!deadline && blocker->run_first(state) && state.is_ready()) return true;
  } else {
    Executor* home = state.home();
    if (home == nullptr || !home->is_inline()) return park_until_ready(state, deadline, true);
    // The driver of a sync context: the result is most likely queued there.
    auto ready = [](const void* s) noexcept { return static_cast<const StateBase*>(s)->is_ready(); };
    if (home->drive_while_queued(ready, &state)) return true;
  }
  SignalWaiter waiter;
  if (!state.add_waiter(&waiter)) return true;
  StateBase* const helpable[] = {&state};
  bool set = false;
  try {
    set = wait_for_signal(waiter.signal, helpable, deadline);
  } catch (...) {
    if (!state.remove_waiter(&waiter)) waiter.signal.wait_until(std::nullopt);
    waiter.signal.settle();
    throw;
  }
  if (set || !state.remove_waiter(&waiter)) {
    waiter.signal.wait_until(std::nullopt);
    waiter.signal.settle();
    return true;
  }
  throw_if_task_cancelled();
  return false;
}

bool block_until(Signal& signal, std::span<StateBase* const> helpable, const Deadline& deadline) {
  const bool set = wait_for_signal(signal, helpable, deadline);
  // The caller usually destroys the signal next: not while notify() holds it.
  if (set) {
    signal.settle();
  } else if (current_task_cancelled()) {
    // The caller withdraws what it registered (it catches, cleans, rethrows).
    throw TaskCancelled();
  }
  return set;
}

}  // namespace fray::detail
