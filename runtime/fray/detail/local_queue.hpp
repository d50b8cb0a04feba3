// A pool worker's own queue: a bounded FIFO ring that only its owner pushes
// to and that every worker may take from (the owner and idle thieves alike,
// with one compare-exchange on the head). What a worker queues for itself
// is therefore never out of reach of an idle worker.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "fray/executor.hpp"

namespace fray::detail {

class LocalQueue {
 public:
  static constexpr std::size_t kCapacity = 256;

  // Owner only. False when full (the caller queues elsewhere).
  bool push(Work* work) noexcept {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    if (tail - head >= kCapacity) return false;
    slots_[tail % kCapacity].store(work, std::memory_order_relaxed);
    // Sequentially consistent: a pusher that then finds no idle worker
    // awake knows that any worker about to sleep sees this item.
    tail_.store(tail + 1, std::memory_order_seq_cst);
    return true;
  }

  // Any thread. The oldest item, or null when empty.
  Work* pop() noexcept {
    std::uint64_t head = head_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint64_t tail = tail_.load(std::memory_order_acquire);
      if (head >= tail) return nullptr;
      // May read a slot the owner is refilling; then the exchange fails,
      // because the owner only refills slots behind an advanced head.
      Work* work = slots_[head % kCapacity].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(head, head + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        return work;
      }
    }
  }

  // Owner only: how many more it can push now.
  std::size_t room() const noexcept {
    return kCapacity - static_cast<std::size_t>(tail_.load(std::memory_order_relaxed) -
                                                head_.load(std::memory_order_acquire));
  }

  bool looks_empty() const noexcept {
    return head_.load(std::memory_order_seq_cst) >= tail_.load(std::memory_order_seq_cst);
  }

 private:
  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) std::atomic<std::uint64_t> tail_{0};
  std::array<std::atomic<Work*>, kCapacity> slots_{};
};

}  // namespace fray::detail
