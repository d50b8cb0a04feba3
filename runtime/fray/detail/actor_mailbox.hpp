// An actor's mailbox: a serial executor layered on the runtime's executor.
// post() pushes onto a lock-free intrusive queue (no allocation: the work is
// its own queue node) and, when the mailbox is idle, posts one drain onto
// the runtime's executor. The drain runs the queued work one item at a time,
// a bounded batch per turn so a busy actor does not keep a pool thread from
// everything else. Whatever the mailbox runs is therefore serial, on
// whichever runtime thread the drain landed.
//
// The mailbox also paces calls: a coroutine call that has started and not
// finished is "in flight"; while max_concurrency of them are, further calls
// are held (in order) and their suspended predecessors' resumptions still
// get through.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "fray/detail/task_host.hpp"
#include "fray/executor.hpp"

namespace fray::detail {

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
    push(work);
    if (idle) runtime_.post(&drain_);
  }

  // A new mailbox holds its work until it is opened: open() posts the first
  // drain, or whoever opens it posts drain_work() (the admission line does).
  void open() noexcept { runtime_.post(&drain_); }
  Work* drain_work() noexcept { return &drain_; }

  // The mailbox whose drain is running on this thread, if any.
  static ActorMailbox* current() noexcept;

  // ---- Only on the mailbox (inside its drain) ----
  bool saturated() const noexcept { return in_flight_ >= max_concurrency_; }
  // Keeps a call that may not start yet; it runs again once a call finishes.
  void hold(Work* call) noexcept;
  Work* take_held() noexcept;
  bool has_held() const noexcept { return held_head_ != nullptr; }
  // A coroutine call started / finished; `link` lives in the call.
  void call_started(LiveCoroutine& link) noexcept;
  void call_finished(LiveCoroutine& link) noexcept;
  std::size_t in_flight() const noexcept { return in_flight_; }
  // Asks every in-flight coroutine call to stop at its suspension point.
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
  void push(Work* work) noexcept;
  Work* pop() noexcept;

  Executor& runtime_;
  DrainWork drain_;

  // Producers' side: the newest item, and the count of items posted and not
  // yet paid for by a drain (the drain is scheduled while it is non-zero;
  // it starts at 1 so that a new mailbox holds its work until open()).
  alignas(64) std::atomic<Work*> head_;
  std::atomic<std::size_t> pending_{1};

  // The drain's side.
  alignas(64) Work* tail_;
  Work stub_;
  std::size_t owed_ = 1;  // items popped and not yet subtracted from pending_
  Work* held_head_ = nullptr;
  Work* held_tail_ = nullptr;
  LiveCoroutine* in_flight_head_ = nullptr;
  std::size_t in_flight_ = 0;
  const std::size_t max_concurrency_;
  bool closed_ = false;
};

}  // namespace fray::detail
