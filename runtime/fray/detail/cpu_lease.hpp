// A running task's cpu, lent back to the admission line while the task
// waits on other work (a blocking get/wait, a co_await of a future), and
// taken back ahead of the line before it continues, as Ray releases a
// blocked task's CPU. Other resources (gpu, memory, named) stay held.
#pragma once

#include "fray/detail/blocking.hpp"
#include "fray/detail/resource_admission.hpp"
#include "fray/detail/suspension.hpp"

namespace fray::detail {

class CpuLease final : public ResourceLease {
 public:
  // Inactive (lends nothing) when the request has no cpu.
  void bind(ResourceAdmission& admission, Executor& executor, const Resources& request) {
    admission_ = &admission;
    executor_ = &executor;
    cpu_ = Resources{}.cpu(request.get("cpu"));
  }
  bool active() const noexcept { return !cpu_.empty(); }
  const Resources& cpu() const noexcept { return cpu_; }

  void lend() noexcept override {
    if (lent_out()) return;  // never came back (shutdown flushed the line): nothing to lend
    ticket_.holds_resources = false;
    lent_ = true;
    admission_->release(cpu_, *executor_);
  }
  bool reclaim_now() noexcept override {
    if (!admission_->try_acquire_first(cpu_)) return false;
    ticket_.holds_resources = true;
    return true;
  }
  void reclaim_then(Work& resume) noexcept override {
    prepare_ticket(resume, /*run_in_place=*/false);
    if (admission_->acquire_first_or_queue(ticket_)) executor_->post(&resume);
  }
  void reclaim_blocking() noexcept override {
    if (reclaim_now()) return;
    struct Wake : Work {
      Signal signal;
    } wake;
    wake.run_work = [](Work* work) noexcept { static_cast<Wake*>(work)->signal.notify(); };
    prepare_ticket(wake, /*run_in_place=*/true);
    if (admission_->acquire_first_or_queue(ticket_)) return;
    // Parked until the line hands the cpu back (the pool standing in for
    // this thread meanwhile); not cancellable: the task needs it to go on.
    bool back = false;
    if (Blocker* blocker = current_blocker()) {
      try {
        back = blocker->block(BlockRequest{wake.signal, std::nullopt, {}, /*lends=*/false, /*cancellable=*/false});
      } catch (...) {
        back = false;  // no thread to stand in: wait all the same
      }
    }
    if (!back) wake.signal.wait_until(std::nullopt);
    wake.signal.settle();
  }

  // At the task's end: true if the cpu is still lent out (it never came
  // back, e.g. the line was flushed at shutdown), so it is not given back twice.
  bool lent_out() const noexcept { return lent_ && !ticket_.holds_resources; }

 private:
  void prepare_ticket(Work& start, bool run_in_place) noexcept {
    ticket_.request = &cpu_;
    ticket_.start = &start;
    ticket_.state = nullptr;
    ticket_.run_in_place = run_in_place;
    ticket_.starts_task = false;
    ticket_.holds_resources = false;
  }

  ResourceAdmission* admission_ = nullptr;
  Executor* executor_ = nullptr;
  Resources cpu_;
  AdmissionTicket ticket_;
  bool lent_ = false;
};

}  // namespace fray::detail
