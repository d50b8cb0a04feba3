// The inline executor of the "sync" context: one FIFO queue, drained by
// whichever thread blocks on a result (get, wait, the runtime's shutdown).
// Tasks therefore run one at a time, in submission order, on the driver's
// thread: deterministic, for tests and debugging. Other threads (timers,
// processes) may post; a draining thread that has nothing to do sleeps until
// they do.
#pragma once

#include <mutex>

#include "fray/detail/blocking.hpp"
#include "fray/executor.hpp"

namespace fray {
class JobContext;
}

namespace fray::detail {

class InlineExecutor final : public Executor, public BlockingHelper {
 public:
  // Work runs with `context` as the thread's ambient context.
  explicit InlineExecutor(JobContext* context) noexcept : context_(context) {}
  ~InlineExecutor() override = default;

  void post(Work* work) noexcept override;
  bool is_inline() const noexcept override { return true; }
  bool run_one_queued() noexcept override;
  bool help_until(Signal& signal, const Deadline& deadline) override;

  // Runs everything queued until the queue is empty.
  void drain() noexcept;

 private:
  Work* pop() noexcept;
  void run(Work* work) noexcept;

  std::mutex mutex_;
  Work* head_ = nullptr;
  Work* tail_ = nullptr;
  Signal* parked_ = nullptr;  // a draining thread asleep waiting for work
  JobContext* context_;
};

}  // namespace fray::detail
