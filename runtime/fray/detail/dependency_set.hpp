// The futures a task waits for before it can start (its argument futures).
// It registers one waiter on each; once every one has completed, or been
// withdrawn because the task was cancelled, the task is told once
// ("settled"). A guard count keeps that from happening before the task has
// finished setting itself up.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <utility>

#include "fray/detail/shared_state.hpp"

namespace fray::detail {

template <std::size_t N>
class DependencySet {
 public:
  using Settled = void (*)(void* owner) noexcept;

  // `states` in argument order, alive while the task holds its arguments.
  // Does not settle: release_guard() does, once the owner is ready for it.
  void watch(const std::array<StateBase*, N>& states, Settled settled, void* owner) noexcept {
    settled_ = settled;
    owner_ = owner;
    unresolved_.store(static_cast<std::uint32_t>(N + 1), std::memory_order_relaxed);
    for (std::size_t i = 0; i < N; ++i) {
      Slot& slot = slots_[i];
      slot.set = this;
      slot.state = states[i];
      slot.on_ready = [](Waiter* self) noexcept { static_cast<Slot*>(self)->set->count_down(); };
      if (!slot.state->add_waiter(&slot)) count_down();
    }
  }
  void release_guard() noexcept { count_down(); }

  // The task was cancelled: take back every waiter still registered (a
  // never-completing future then no longer holds the task). Call before the
  // arguments go (they keep the states alive); later calls do nothing.
  void withdraw() noexcept {
    for (Slot& slot : slots_) {
      StateBase* state = std::exchange(slot.state, nullptr);
      if (state != nullptr && state->remove_waiter(&slot)) count_down();
    }
  }

  // Once settled: the first failure in argument order, if any.
  std::exception_ptr first_error() const noexcept {
    for (const Slot& slot : slots_) {
      if (slot.state->has_error()) return slot.state->error();
    }
    return nullptr;
  }

  // The states still not complete, each with a reference added for the
  // caller (a blocked thread about to help them); call with the owner
  // pinned so its arguments stay alive.
  std::size_t pin_pending(std::array<StateBase*, N>& out) const noexcept {
    std::size_t count = 0;
    for (const Slot& slot : slots_) {
      if (slot.state != nullptr && !slot.state->is_ready()) {
        slot.state->add_ref();
        out[count++] = slot.state;
      }
    }
    return count;
  }

 private:
  struct Slot : Waiter {
    DependencySet* set = nullptr;
    StateBase* state = nullptr;
  };

  void count_down() noexcept {
    if (unresolved_.fetch_sub(1, std::memory_order_acq_rel) == 1) settled_(owner_);
  }

  std::array<Slot, N> slots_{};
  std::atomic<std::uint32_t> unresolved_{0};
  Settled settled_ = nullptr;
  void* owner_ = nullptr;
};

// No dependencies: nothing to wait for.
template <>
class DependencySet<0> {};

}  // namespace fray::detail
