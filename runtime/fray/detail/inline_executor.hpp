// The inline executor of the "sync" context: nothing runs until a result is
// asked for, and then on the asking thread, one item at a time, tasks in
// submission order: deterministic, for tests and debugging.
//
// The driver (a thread blocked in get/wait outside any task) drives the
// queue: continuations of running coroutines first, then new tasks in
// order. One thread drives at a time; a second driver waits until the
// first is done or its own result is there.
//
// A task that blocks inside the sync context never runs unrelated tasks on
// its stack (that is how nested gets deadlock): it runs the task it waits
// for if that is queued (and the tasks that one waits for), and the
// continuations of coroutines (their resumptions, actor mailboxes), which
// may be what it waits for. There is no other thread: a task that waits for
// something only another queued task can produce waits forever; use the
// threads context for that.
#pragma once

#include <mutex>
#include <thread>
#include <optional>
#include <vector>

#include "fray/detail/blocking.hpp"
#include "fray/detail/intrusive_list.hpp"
#include "fray/detail/spin_lock.hpp"
#include "fray/executor.hpp"

namespace fray {
class JobContext;
}

namespace fray::detail {

class InlineExecutor final : public Executor, public Blocker {
 public:
  // Work runs with `context` as the thread's ambient context.
  explicit InlineExecutor(JobContext* context) noexcept : context_(context) {}
  ~InlineExecutor() override = default;

  void post(Work* work) noexcept override;
  void post_task(Work* work) noexcept override;
  bool is_inline() const noexcept override { return true; }
  bool drive_until(Signal& signal, const Deadline& deadline) override;
  bool drive_while_queued(bool (*done)(const void*), const void* context) override;
  bool block(const BlockRequest& request) override;
  bool run_first(StateBase& state) noexcept override { return state.run_here(*this, 0); }

  // Cancels the task blocked inside this executor, if any (shutdown).
  void cancel_blocked_tasks(CancelReason reason) noexcept;
  // Runs everything queued until the queue is empty (shutdown).
  void drain() noexcept;

 private:
  Work* pop(bool tasks_too) noexcept;
  Work* pop_locked(bool tasks_too) noexcept;
  void run(Work* work) noexcept;
  bool acquire_drive(Signal& signal, const Deadline& deadline);
  void release_drive() noexcept;
  void park_until_poked(Signal& signal, const Deadline& deadline);
  // Under mutex_: a parked thread leaves the list under it too, so its
  // signal cannot go away in between. Inline: nobody is parked, mostly.
  void poke_parked() noexcept {
    if (!parked_.empty()) poke_all_parked();
  }
  void poke_all_parked() noexcept;

  void enlist_blocked(StateBase& task);
  void delist_blocked(StateBase& task) noexcept;

  // Held for a few instructions at a time, never while anything runs or
  // waits; taken three times per task (see SpinLock::unlock).
  SpinLock mutex_;
  WorkQueue continuations_;
  WorkQueue tasks_;
  std::vector<Signal*> parked_;  // drivers asleep waiting for work or for the drive
  std::thread::id driver_{};     // who runs work now (none: nobody)
  int drive_depth_ = 0;          // nested blocking on the driver's own stack
  std::vector<StateBase*> blocked_tasks_;        // under mutex_ (shutdown may look from another thread)
  std::optional<CancelReason> cancel_blocked_;  // under mutex_; sticky: tasks that block later are cancelled too
  JobContext* context_;
};

}  // namespace fray::detail
