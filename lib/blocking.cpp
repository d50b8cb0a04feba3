#include "fray/detail/blocking.hpp"

namespace fray::detail {

BlockingHelper*& current_blocking_helper() noexcept {
  thread_local BlockingHelper* helper = nullptr;
  return helper;
}

namespace {

// Parks on a signal, or lets the thread's executor do work meanwhile.
bool park_or_help(Signal& signal, Executor* home, const Deadline& deadline) {
  if (BlockingHelper* helper = current_blocking_helper()) {
    return helper->help_until(signal, deadline);
  }
  if (home != nullptr && home->is_inline()) {
    if (auto* helper = dynamic_cast<BlockingHelper*>(home)) return helper->help_until(signal, deadline);
  }
  return signal.wait_until(deadline);
}

}  // namespace

bool block_until(Signal& signal, Executor* home, const Deadline& deadline) {
  const bool may_spin = current_blocking_helper() == nullptr && (home == nullptr || !home->is_inline());
  const bool set = (may_spin && spin_briefly([&] { return signal.is_set(); })) || park_or_help(signal, home, deadline);
  // The caller usually destroys the signal next: not while notify() holds it.
  if (set) signal.settle();
  return set;
}

bool block_until_ready(StateBase& state, const Deadline& deadline) {
  if (state.is_ready()) return true;
  Executor* home = state.home();
  if (home != nullptr && home->is_inline()) {
    // The result is most likely queued right here: run until it is done.
    while (!state.is_ready() && home->run_one_queued()) {
    }
    if (state.is_ready()) return true;
  }
  const bool may_spin = current_blocking_helper() == nullptr && (home == nullptr || !home->is_inline());
  if (may_spin && spin_briefly([&] { return state.is_ready(); })) return true;
  SignalWaiter waiter;
  if (!state.add_waiter(&waiter)) return true;
  if (park_or_help(waiter.signal, home, deadline) || !state.remove_waiter(&waiter)) {
    // Completion took the waiter and is (or was) notifying it: let it finish.
    waiter.signal.wait_until(std::nullopt);
    return true;
  }
  return false;
}

}  // namespace fray::detail
