// An actor's mailbox: a serial executor layered on the runtime's executor.
// post() pushes onto the lock-free MpscQueue (no allocation: the work is its
// own queue node) and, when the mailbox is idle, posts one drain onto the
// runtime's executor. The drain runs the queued work one item at a time, a
// bounded batch per turn so a busy actor does not keep a pool thread from
// everything else.
//
// The mailbox also paces calls. A call that has started and not finished
// is "in flight". A call may start only when fewer than max_concurrency are
// in flight, its argument futures are resolved, and no older call is held;
// otherwise it is held, in order, while the resumptions of the calls in
// flight still get through. With max_concurrency 1 everything the mailbox
// runs is serial; above 1, plain methods run on the runtime's threads
// (Ray's threaded actors) and coroutine methods interleave on the mailbox.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "fray/detail/intrusive_list.hpp"
#include "fray/detail/mpsc_queue.hpp"
#include "fray/detail/shared_state.hpp"
#include "fray/executor.hpp"

namespace fray::detail {

struct InFlightCalls {};

// What the mailbox knows of a call: whether it may start, and how to stop
// it while it is in flight.
class MailboxCall : public Work, public ListHook<InFlightCalls> {
 public:
  virtual bool arguments_ready() const noexcept { return true; }
  virtual StateBase& call_state() noexcept = 0;

 protected:
  ~MailboxCall() = default;
};

class ActorMailbox : public Executor {
 public:
  ActorMailbox(Executor& runtime, std::size_t max_concurrency) noexcept;
  ActorMailbox(const ActorMailbox&) = delete;
  ActorMailbox& operator=(const ActorMailbox&) = delete;

  void post(Work* work) noexcept final { enqueue(work); }
  // Any thread. Runs `work` after everything posted before it (per poster).
  void enqueue(Work* work) noexcept {
    // Counted before it is linked, so the drain never pops an item it has
    // not been counted for (see drain()).
    const bool idle = pending_.fetch_add(1, std::memory_order_acq_rel) == 0;
    queue_.push(work);
    if (idle) runtime_.post(&drain_);
  }

  // A new mailbox holds its work until it is opened: open() posts the first
  // drain.
  void open() noexcept { runtime_.post(&drain_); }

  // The mailbox whose drain is running on this thread, if any.
  static ActorMailbox* current() noexcept;
  Executor& runtime() const noexcept { return runtime_; }
  std::size_t max_concurrency() const noexcept { return max_concurrency_; }

  // ---- Only on the mailbox (inside its drain) ----
  // True if `call` may not start yet (the caller then holds it).
  bool must_hold(const MailboxCall& call) const noexcept {
    // A call just taken from the held list is the oldest: only the others wait behind it.
    return (!running_held_ && !held_.empty()) || in_flight_ >= max_concurrency_ || !call.arguments_ready();
  }
  // Keeps a call that may not start yet; it runs again when it may.
  void hold(MailboxCall* call) noexcept { held_.push_back(call); }
  MailboxCall* take_held() noexcept { return static_cast<MailboxCall*>(held_.pop_front()); }
  bool has_held() const noexcept { return !held_.empty(); }
  void call_started(MailboxCall& call) noexcept;
  void call_finished(MailboxCall& call) noexcept;
  std::size_t in_flight() const noexcept { return in_flight_; }
  // Asks every call in flight to stop (coroutines at their suspension
  // point, plain ones through this_task::cancel_requested()).
  void cancel_in_flight() noexcept;
  // The drain stops after the current item and calls on_closed(), which may
  // free the mailbox; nothing may be posted afterwards.
  void close_after_current() noexcept { closed_ = true; }

 protected:
  ~ActorMailbox() override = default;
  virtual void on_closed() noexcept = 0;

 private:
  struct DrainWork : Work {
    ActorMailbox* mailbox = nullptr;
  };

  static void drain(Work* work) noexcept;
  bool held_front_may_start() const noexcept {
    return !held_.empty() && in_flight_ < max_concurrency_ &&
           static_cast<const MailboxCall*>(held_.front())->arguments_ready();
  }

  Executor& runtime_;
  DrainWork drain_;
  MpscQueue queue_;
  // Items posted and not yet paid for by a drain (the drain is scheduled
  // while it is non-zero; it starts at 1 so that a new mailbox holds its
  // work until open()).
  alignas(64) std::atomic<std::size_t> pending_{1};

  // The drain's side.
  alignas(64) std::size_t owed_ = 1;  // items popped and not yet subtracted from pending_
  WorkQueue held_;
  IntrusiveList<MailboxCall, InFlightCalls> in_flight_list_;
  std::size_t in_flight_ = 0;
  bool running_held_ = false;  // the item running now came from the held list
  const std::size_t max_concurrency_;
  bool closed_ = false;
};

}  // namespace fray::detail
