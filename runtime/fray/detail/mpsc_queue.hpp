// The one multi-producer single-consumer queue of the runtime: an intrusive
// FIFO of Work that any thread pushes to without a lock (one atomic
// exchange, D. Vyukov's design). The pool's injection queue and every
// actor's mailbox are one of these; the consumer side is single-threaded
// (the pool serializes its poppers, a mailbox has one drain at a time).
#pragma once

#include <atomic>

#include "fray/executor.hpp"

namespace fray::detail {

class MpscQueue {
 public:
  MpscQueue() noexcept : tail_(&stub_), head_(&stub_) {}
  MpscQueue(const MpscQueue&) = delete;
  MpscQueue& operator=(const MpscQueue&) = delete;

  // Any thread. Sequentially consistent, so a pusher that then finds no
  // sleeping consumer knows that any consumer about to sleep sees the item.
  void push(Work* work) noexcept {
    link(work).store(nullptr, std::memory_order_relaxed);
    Work* previous = tail_.exchange(work, std::memory_order_seq_cst);
    link(previous).store(work, std::memory_order_release);
  }

  // Consumer only. The oldest item, or nullptr when the queue is empty or
  // its next item is still being linked by a pusher (then might_have_work()
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
    if (next != nullptr) {
      head_.store(next, std::memory_order_seq_cst);
      return head;
    }
    // `head` looks like the last item: re-insert the stub behind it so it
    // can leave without the queue ever being without a node.
    if (head != tail_.load(std::memory_order_seq_cst)) return nullptr;  // a push is mid-way
    push(&stub_);
    next = link(head).load(std::memory_order_acquire);
    if (next == nullptr) return nullptr;
    head_.store(next, std::memory_order_seq_cst);
    return head;
  }

  // Any thread. False only when the queue held nothing at some recent
  // moment; true while an item is queued or being linked.
  bool might_have_work() const noexcept {
    return tail_.load(std::memory_order_seq_cst) != &stub_ || head_.load(std::memory_order_seq_cst) != &stub_;
  }

 private:
  // The links are plain pointers in Work, shared with the other queues;
  // here producers and the consumer race on them, so every access is atomic.
  static std::atomic_ref<Work*> link(Work* work) noexcept { return std::atomic_ref<Work*>(work->next_work); }

  // Pushers' end on one line, the consumer's on another.
  alignas(64) std::atomic<Work*> tail_;
  alignas(64) std::atomic<Work*> head_;
  Work stub_;
};

}  // namespace fray::detail
