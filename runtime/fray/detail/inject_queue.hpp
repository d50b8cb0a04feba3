// The thread pool's injection queue: an intrusive FIFO that many threads
// push to without a lock (one atomic exchange, D. Vyukov's MPSC design), so
// a driver fanning out a million tasks never meets the workers on a mutex.
// One consumer at a time pops; the pool serializes its workers for that.
#pragma once

#include <atomic>
#include <cstddef>

#include "fray/executor.hpp"

namespace fray::detail {

class InjectQueue {
 public:
  InjectQueue() noexcept { tail_.store(&stub_, std::memory_order_relaxed); }
  InjectQueue(const InjectQueue&) = delete;
  InjectQueue& operator=(const InjectQueue&) = delete;

  // Any thread. Sequentially consistent, so a pusher that then finds no
  // sleeping worker knows that any worker about to sleep will see the item.
  void push(Work* work) noexcept {
    link(work).store(nullptr, std::memory_order_relaxed);
    pushed_.fetch_add(1, std::memory_order_relaxed);
    Work* previous = tail_.exchange(work, std::memory_order_seq_cst);
    link(previous).store(work, std::memory_order_release);
  }

  // Consumer only. The oldest item, or nullptr when the queue is empty or its
  // next item is still being linked by a pusher (then might_have_work()
  // stays true and the caller tries again).
  Work* pop() noexcept {
    Work* head = head_.load(std::memory_order_relaxed);
    Work* next = link(head).load(std::memory_order_acquire);
    if (head == &stub_) {
      if (next == nullptr) return nullptr;
      head = next;
      head_.store(head, std::memory_order_seq_cst);
      next = link(head).load(std::memory_order_acquire);
    }
    if (next != nullptr) return take(head, next);
    // `head` looks like the last item: re-insert the stub behind it so it
    // can leave without the queue ever being without a node.
    if (head != tail_.load(std::memory_order_seq_cst)) return nullptr;  // a push is mid-way
    push_stub();
    next = link(head).load(std::memory_order_acquire);
    return next != nullptr ? take(head, next) : nullptr;
  }

  // Any thread. False only when the queue held nothing at some recent
  // moment; true while an item is queued or being linked.
  bool might_have_work() const noexcept {
    return tail_.load(std::memory_order_seq_cst) != &stub_ || head_.load(std::memory_order_seq_cst) != &stub_;
  }

  // Consumer only. Items pushed and not yet popped (a push in progress may
  // or may not count); for sizing batches.
  std::size_t approximate_size() const noexcept {
    const std::size_t pushed = pushed_.load(std::memory_order_relaxed);
    return pushed > popped_ ? pushed - popped_ : 0;
  }

 private:
  static std::atomic_ref<Work*> link(Work* work) noexcept { return std::atomic_ref<Work*>(work->next_work); }

  Work* take(Work* head, Work* next) noexcept {
    head_.store(next, std::memory_order_seq_cst);
    ++popped_;
    return head;
  }

  void push_stub() noexcept {
    link(&stub_).store(nullptr, std::memory_order_relaxed);
    Work* previous = tail_.exchange(&stub_, std::memory_order_seq_cst);
    link(previous).store(&stub_, std::memory_order_release);
  }

  // Pushers' end and count share a line; the consumer's end is on another.
  alignas(64) std::atomic<Work*> tail_;
  std::atomic<std::size_t> pushed_{0};
  alignas(64) std::atomic<Work*> head_{&stub_};
  std::size_t popped_ = 0;
  Work stub_;
};

}  // namespace fray::detail
