// wait(futures, num_returns, timeout), as ray.wait: returns the first
// `num_returns` futures that are ready and the rest, both in input order.
// It sleeps until enough are ready (no polling) and costs O(n).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "fray/detail/blocking.hpp"
#include "fray/future.hpp"

namespace fray {

template <class T>
struct WaitResult {
  std::vector<Future<T>> ready;
  std::vector<Future<T>> pending;
};

namespace detail {

// Counts completions among the futures of one wait() and fires once when
// enough are in (or on timeout, or on cancellation).
class WaitGroup {
 public:
  struct Node : Waiter {
    WaitGroup* group = nullptr;
    std::atomic<bool> done_touching{false};
  };

  WaitGroup(std::size_t needed, void (*on_fire)(WaitGroup*) noexcept) noexcept
      : remaining_(static_cast<std::ptrdiff_t>(needed)), on_fire_(on_fire) {}

  // Registers on every future not ready yet; counts the ready ones.
  template <class T>
  void watch(const std::vector<Future<T>>& futures) {
    nodes_ = std::make_unique<Node[]>(futures.size());
    for (std::size_t i = 0; i < futures.size(); ++i) {
      Node& node = nodes_[i];
      node.group = this;
      node.on_ready = [](Waiter* self) noexcept {
        auto* node = static_cast<Node*>(self);
        node->group->arrive();
        node->done_touching.store(true, std::memory_order_release);
      };
      if (!futures[i].state_ptr()->add_waiter(&node)) {
        node.done_touching.store(true, std::memory_order_relaxed);
        arrive();
      }
    }
  }
  // Takes every node back; waits out completions that are mid-notify so the
  // nodes can be freed.
  template <class T>
  void unwatch(const std::vector<Future<T>>& futures) noexcept {
    for (std::size_t i = 0; i < futures.size(); ++i) {
      Node& node = nodes_[i];
      if (futures[i].state_ptr()->remove_waiter(&node)) continue;
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

 private:
  std::atomic<std::ptrdiff_t> remaining_;
  std::atomic<bool> fired_{false};
  void (*on_fire_)(WaitGroup*) noexcept;
  std::unique_ptr<Node[]> nodes_;
};

template <class T>
std::size_t count_ready(const std::vector<Future<T>>& futures) {
  return static_cast<std::size_t>(
      std::count_if(futures.begin(), futures.end(), [](const Future<T>& f) { return f.ready(); }));
}

template <class T>
WaitResult<T> split_ready(std::vector<Future<T>>&& futures, std::size_t num_returns) {
  WaitResult<T> result;
  result.ready.reserve(std::min(num_returns, futures.size()));
  for (auto& future : futures) {
    if (result.ready.size() < num_returns && future.ready()) {
      result.ready.push_back(std::move(future));
    } else {
      result.pending.push_back(std::move(future));
    }
  }
  return result;
}

template <class T>
void check_waitable(const std::vector<Future<T>>& futures) {
  for (const auto& future : futures) {
    if (!future.valid()) throw EmptyFuture();
  }
}

struct BlockingWaitGroup : WaitGroup {
  Signal signal;
  explicit BlockingWaitGroup(std::size_t needed)
      : WaitGroup(needed, [](WaitGroup* self) noexcept { static_cast<BlockingWaitGroup*>(self)->signal.notify(); }) {}
};

}  // namespace detail

// Blocks until `num_returns` of `futures` are ready or `timeout` passes.
template <class T>
WaitResult<T> wait(std::vector<Future<T>> futures, std::size_t num_returns = 1,
                   std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
  detail::check_waitable(futures);
  num_returns = std::min(num_returns, futures.size());
  const std::size_t already = detail::count_ready(futures);
  if (already < num_returns) {
    const detail::Deadline deadline =
        timeout ? detail::Deadline(detail::Clock::now() + *timeout) : std::nullopt;
    detail::BlockingWaitGroup group(num_returns);
    group.watch(futures);
    Executor* home = nullptr;
    for (const auto& future : futures) {
      if (!future.ready()) {
        home = future.state_ptr()->home();
        break;
      }
    }
    detail::block_until(group.signal, home, deadline);
    group.unwatch(futures);
  }
  return detail::split_ready(std::move(futures), num_returns);
}

}  // namespace fray
