// Admission by logical resources: a task that asks for resources starts only
// when they are free, and tasks waiting for them start in submission order
// (the first one that does not fit holds back those behind it, so a big
// request is never starved by small ones).
#pragma once

#include <mutex>
#include <string>

#include "fray/detail/shared_state.hpp"
#include "fray/executor.hpp"
#include "fray/resources.hpp"

namespace fray::detail {

// A task's place in the admission line; lives inside the task.
struct AdmissionTicket {
  const Resources* request = nullptr;
  Work* start = nullptr;        // posted to the executor once admitted
  StateBase* state = nullptr;   // to skip tasks cancelled while waiting
  bool holds_resources = false;  // false for tasks flushed at shutdown or cancelled
  AdmissionTicket* next = nullptr;
};

class ResourceAdmission {
 public:
  explicit ResourceAdmission(Resources capacity) : capacity_(capacity), available_(std::move(capacity)) {}

  const Resources& capacity() const noexcept { return capacity_; }
  // Empty if the request can ever fit; otherwise why not.
  std::string why_unschedulable(const Resources& request) const;

  // Takes the resources now (true) or queues the ticket (false); a queued
  // ticket's work is posted to `executor` when its turn comes.
  bool acquire_or_queue(AdmissionTicket& ticket);
  // Gives resources back and admits whoever now fits.
  void release(const Resources& request, Executor& executor);
  // Admits queued tickets that fit (or that were cancelled) into `executor`.
  void admit_waiting(Executor& executor);
  // Hands every waiting ticket to `executor` (they see the runtime stopping
  // and cancel themselves).
  void flush_all(Executor& executor);
  Resources available() const;

 private:
  mutable std::mutex mutex_;
  const Resources capacity_;
  Resources available_;
  AdmissionTicket* head_ = nullptr;
  AdmissionTicket* tail_ = nullptr;
};

}  // namespace fray::detail
