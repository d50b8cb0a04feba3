// What a task carries beyond its function and arguments only when it needs
// it: options that differ from the defaults, its place in the admission
// line, its cpu lease, its timers. Most tasks have none and pay one null
// pointer. Plus the link that cancels a task with the task that started it.
#pragma once

#include <chrono>
#include <memory>
#include <stop_token>

#include "fray/detail/cpu_lease.hpp"
#include "fray/detail/resource_admission.hpp"
#include "fray/detail/task_host.hpp"
#include "fray/detail/timer_service.hpp"
#include "fray/task_options.hpp"

namespace fray::detail {

struct TaskExtras {
  TaskOptions options;
  AdmissionTicket ticket;  // its admission (and re-admission after a back-off)
  CpuLease lease;          // lends its cpu while it waits on other work
  LiveTask live;           // listed for shutdown while it waits or is suspended
  std::shared_ptr<TimerService::Timer> timeout;
  std::shared_ptr<TimerService::Timer> backoff;
  // Work that names its task (the task's own Work may still sit in a queue).
  struct OwnedWork : Work {
    void* task = nullptr;
  };
  OwnedWork retry;         // a retry's start
  OwnedWork admitted;      // run by the admission line
  struct BackoffHook : CancelHook {
    TaskExtras* extras = nullptr;
  } backoff_hook;          // cancel() during a back-off ends it
  // cancel() while a retry waits in the admission line takes it out, from
  // `withdraw` posted to `executor` (the hook runs under the task's lock).
  struct ReadmissionHook : CancelHook {
    StateBase* task = nullptr;
    Executor* executor = nullptr;
    OwnedWork withdraw;
    bool posted = false;  // under the task's lock: a second cancel must not post it again
  } readmission_hook;

  bool has_resources() const noexcept { return !options.resources.empty(); }
};

inline std::unique_ptr<TaskExtras> make_extras(TaskOptions&& options) {
  if (options.is_default()) return nullptr;
  auto extras = std::make_unique<TaskExtras>();
  extras->options = std::move(options);
  return extras;
}

// A child task is cancelled with the task that started it (Ray cancels
// recursively): a callback on the parent's children token.
class ParentLink {
 public:
  ParentLink(std::stop_token parent, StateBase* child) : callback_(std::move(parent), CancelChild{child}) {}

 private:
  struct CancelChild {
    StateBase* child;
    void operator()() const noexcept { child->request_cancel(CancelReason::user); }
  };
  std::stop_callback<CancelChild> callback_;
};

}  // namespace fray::detail
