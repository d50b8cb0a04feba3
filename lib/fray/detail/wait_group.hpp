// Counts completions among the states of one wait (wait, wait_async,
// when_all, when_any) and fires once when enough are in, or on timeout, or
// on cancellation, whichever comes first.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "fray/detail/shared_state.hpp"

namespace fray::detail {

class WaitGroup {
 public:
  WaitGroup(std::size_t needed, void (*on_fire)(WaitGroup*) noexcept) noexcept
      : remaining_(static_cast<std::ptrdiff_t>(needed)), on_fire_(on_fire) {}
  WaitGroup(const WaitGroup&) = delete;

  // Registers on every state not complete yet (null: always ready) and
  // counts the complete ones. Fires at once if that is enough.
  void watch(const std::vector<StateBase*>& states) {
    states_ = states;
    nodes_ = std::make_unique<Node[]>(states.size());
    for (std::size_t i = 0; i < states.size(); ++i) {
      Node& node = nodes_[i];
      node.group = this;
      node.on_ready = [](Waiter* self) noexcept {
        auto* node = static_cast<Node*>(self);
        node->group->arrive();
        node->done_touching.store(true, std::memory_order_release);
      };
      if (states[i] == nullptr || !states[i]->add_waiter(&node)) {
        node.done_touching.store(true, std::memory_order_relaxed);
        arrive();
      }
    }
  }
  // Takes every node back; waits out completions that are mid-notify so the
  // nodes can be freed.
  void unwatch() noexcept {
    for (std::size_t i = 0; i < states_.size(); ++i) {
      Node& node = nodes_[i];
      if (states_[i] != nullptr && states_[i]->remove_waiter(&node)) continue;
      while (!node.done_touching.load(std::memory_order_acquire)) std::this_thread::yield();
    }
  }

  void arrive() noexcept {
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) fire();
  }
  // Exactly once, whoever comes first: enough arrivals, a timeout, a cancel.
  void fire() noexcept {
    if (!fired_.exchange(true, std::memory_order_acq_rel)) on_fire_(this);
  }
  bool fired() const noexcept { return fired_.load(std::memory_order_acquire); }

 private:
  struct Node : Waiter {
    WaitGroup* group = nullptr;
    std::atomic<bool> done_touching{false};
  };

  std::atomic<std::ptrdiff_t> remaining_;
  std::atomic<bool> fired_{false};
  void (*on_fire_)(WaitGroup*) noexcept;
  std::vector<StateBase*> states_;
  std::unique_ptr<Node[]> nodes_;
};

}  // namespace fray::detail
