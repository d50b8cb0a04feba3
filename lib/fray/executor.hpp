// Where queued work runs. The runtime's executors (the inline one and the
// thread pool) implement this; futures and coroutines only need to post.
#pragma once

namespace fray {

// A unit of queued work. Intrusive (the link lives in the item) so posting
// never allocates: a task is its own queue node, a suspended coroutine's
// awaiter is its own resumption.
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
  // True for the single-threaded inline executor, whose queue is drained by
  // whoever blocks on its results.
  virtual bool is_inline() const noexcept { return false; }
  // Runs one queued item on the calling thread if the executor allows it
  // (the inline one does); false if there was none.
  virtual bool run_one_queued() noexcept { return false; }
};

}  // namespace fray
