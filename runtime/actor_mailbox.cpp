#include "fray/detail/actor_mailbox.hpp"

#include <thread>
#include <utility>

#include "fray/detail/cpu_relax.hpp"

namespace fray::detail {

namespace {

// Items one drain runs before it yields its thread to other work.
constexpr int kDrainBatch = 256;

ActorMailbox*& current_slot() noexcept {
  thread_local ActorMailbox* mailbox = nullptr;
  return mailbox;
}

// The queue links live in Work::next_work, a plain pointer the executors use
// too; here producers and the drain race on it, so every access is atomic.
std::atomic_ref<Work*> link_of(Work* work) noexcept { return std::atomic_ref<Work*>(work->next_work); }

}  // namespace

ActorMailbox::ActorMailbox(Executor& runtime, std::size_t max_concurrency) noexcept
    : runtime_(runtime), head_(&stub_), tail_(&stub_), max_concurrency_(max_concurrency) {
  drain_.mailbox = this;
  drain_.run_work = &ActorMailbox::drain;
}

ActorMailbox* ActorMailbox::current() noexcept { return current_slot(); }

// Vyukov's intrusive multi-producer single-consumer queue: a push is one
// exchange and one store; the consumer never blocks a producer.
void ActorMailbox::push(Work* work) noexcept {
  link_of(work).store(nullptr, std::memory_order_relaxed);
  Work* previous = head_.exchange(work, std::memory_order_acq_rel);
  link_of(previous).store(work, std::memory_order_release);
}

// Null when empty, and also for a moment while a push is half done (the
// caller knows from pending_ whether to look again).
Work* ActorMailbox::pop() noexcept {
  Work* tail = tail_;
  Work* next = link_of(tail).load(std::memory_order_acquire);
  if (tail == &stub_) {
    if (next == nullptr) return nullptr;
    tail_ = next;
    tail = next;
    next = link_of(tail).load(std::memory_order_acquire);
  }
  if (next != nullptr) {
    tail_ = next;
    return tail;
  }
  if (tail != head_.load(std::memory_order_acquire)) return nullptr;
  // `tail` is the last item: put the stub behind it so it can be handed out.
  push(&stub_);
  next = link_of(tail).load(std::memory_order_acquire);
  if (next == nullptr) return nullptr;
  tail_ = next;
  return tail;
}

void ActorMailbox::drain(Work* work) noexcept {
  ActorMailbox* const self = static_cast<DrainWork*>(work)->mailbox;
  ActorMailbox*& current = current_slot();
  ActorMailbox* const outer = std::exchange(current, self);
  int budget = kDrainBatch;
  int spins = 0;
  for (;;) {
    Work* item;
    if (self->held_head_ != nullptr && self->in_flight_ < self->max_concurrency_) {
      item = self->take_held();  // older than anything still queued
    } else if ((item = self->pop()) != nullptr) {
      ++self->owed_;
    } else {
      // Pay for what was popped. If that empties the count, the mailbox is
      // idle and the next post schedules a new drain; otherwise a producer
      // has counted an item it is about to link: look again.
      const std::size_t owed = std::exchange(self->owed_, 0);
      if (self->pending_.fetch_sub(owed, std::memory_order_acq_rel) == owed) break;
      if (++spins < 64) {
        cpu_relax();
      } else {
        std::this_thread::yield();  // that producer was preempted mid-push
      }
      continue;
    }
    spins = 0;
    item->run();
    if (self->closed_) {
      current = outer;
      self->on_closed();
      return;
    }
    if (--budget == 0) {
      // Still owing, so pending_ stays non-zero: no producer schedules a
      // second drain meanwhile. Touch nothing after the post.
      current = outer;
      self->runtime_.post(&self->drain_);
      return;
    }
  }
  current = outer;
}

void ActorMailbox::hold(Work* call) noexcept {
  call->next_work = nullptr;
  if (held_tail_ != nullptr) {
    held_tail_->next_work = call;
  } else {
    held_head_ = call;
  }
  held_tail_ = call;
}

Work* ActorMailbox::take_held() noexcept {
  Work* call = held_head_;
  if (call != nullptr) {
    held_head_ = call->next_work;
    if (held_head_ == nullptr) held_tail_ = nullptr;
  }
  return call;
}

void ActorMailbox::call_started(LiveCoroutine& link) noexcept {
  ++in_flight_;
  link.prev = nullptr;
  link.next = in_flight_head_;
  if (in_flight_head_ != nullptr) in_flight_head_->prev = &link;
  in_flight_head_ = &link;
}

void ActorMailbox::call_finished(LiveCoroutine& link) noexcept {
  --in_flight_;
  if (link.prev != nullptr) {
    link.prev->next = link.next;
  } else {
    in_flight_head_ = link.next;
  }
  if (link.next != nullptr) link.next->prev = link.prev;
  link.prev = link.next = nullptr;
}

void ActorMailbox::cancel_in_flight() noexcept {
  // Cancelling posts each coroutine's resumption back here; none finishes
  // inside this loop, but keep the next link first all the same.
  for (LiveCoroutine* link = in_flight_head_; link != nullptr;) {
    LiveCoroutine* next = link->next;
    link->state->request_cancel();
    link = next;
  }
}

}  // namespace fray::detail
