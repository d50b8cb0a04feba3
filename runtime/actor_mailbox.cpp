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

}  // namespace

ActorMailbox::ActorMailbox(Executor& runtime, std::size_t max_concurrency) noexcept
    : runtime_(runtime), max_concurrency_(max_concurrency) {
  drain_.mailbox = this;
  drain_.run_work = &ActorMailbox::drain;
}

ActorMailbox* ActorMailbox::current() noexcept { return current_slot(); }

void ActorMailbox::drain(Work* work) noexcept {
  ActorMailbox* const self = static_cast<DrainWork*>(work)->mailbox;
  ActorMailbox*& current = current_slot();
  ActorMailbox* const outer = std::exchange(current, self);
  int budget = kDrainBatch;
  int spins = 0;
  for (;;) {
    Work* item;
    self->running_held_ = self->held_front_may_start();
    if (self->running_held_) {
      item = self->take_held();  // older than anything still queued
    } else if ((item = self->queue_.pop()) != nullptr) {
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

void ActorMailbox::call_started(MailboxCall& call) noexcept {
  ++in_flight_;
  in_flight_list_.push_back(call);
}

void ActorMailbox::call_finished(MailboxCall& call) noexcept {
  --in_flight_;
  in_flight_list_.remove(call);
}

void ActorMailbox::cancel_in_flight() noexcept {
  // Cancelling posts each coroutine's resumption back here; none finishes
  // inside this loop.
  in_flight_list_.for_each([](MailboxCall& call) { call.call_state().request_cancel(); });
}

}  // namespace fray::detail
