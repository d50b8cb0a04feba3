// Where queued work runs. The runtime's executors (the inline one and the
// thread pool) implement this; futures and coroutines only need to post.
#pragma once

#include "fray/detail/signal.hpp"

namespace fray {

// A unit of queued work. Intrusive (the link lives in the item) so posting
// never allocates: a task is its own queue node, a suspended coroutine's
// awaiter is its own resumption. A Work is in at most one queue at a time.
struct Work {
  Work* next_work = nullptr;
  void (*run_work)(Work*) noexcept = nullptr;

  void run() noexcept { run_work(this); }
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `work` soon, on one of this executor's threads. After this call the
  // caller must not touch `work`: it may already have run.
  virtual void post(Work* work) noexcept = 0;
  // The start of a new task. Executors that must tell new tasks from the
  // continuations of running ones (the inline one) override it.
  virtual void post_task(Work* work) noexcept { post(work); }
  // True for the single-threaded inline executor, whose queue is driven by
  // whoever blocks on its results.
  virtual bool is_inline() const noexcept { return false; }
  // The inline executor: runs its queue on the calling thread until
  // `signal` is set or the deadline passes; true if set.
  virtual bool drive_until(detail::Signal& signal, const detail::Deadline& deadline) {
    return signal.wait_until(deadline);
  }
  // The same until `done()` (checked after each item) is true; false when
  // the queue ran dry first (the caller then waits with a signal).
  virtual bool drive_while_queued(bool (*done)(const void*), const void* context) {
    return done(context);
  }
};

}  // namespace fray
