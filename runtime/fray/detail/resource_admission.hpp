// Admission by logical resources: a task that asks for resources starts only
// when they are free, and tasks waiting for them start in submission order
// (the first one that does not fit holds back those behind it, so a big
// request is never starved by small ones). A task that gave its cpu back
// while it waited on other work takes it again ahead of the line.
#pragma once

#include <mutex>
#include <string>

#include "fray/detail/intrusive_list.hpp"
#include "fray/detail/shared_state.hpp"
#include "fray/executor.hpp"
#include "fray/resources.hpp"

namespace fray::detail {

struct AdmissionLine {};

// A place in the admission line; lives inside whoever waits (a task, an
// actor, a lease).
struct AdmissionTicket : ListHook<AdmissionLine> {
  const Resources* request = nullptr;
  Work* start = nullptr;         // run once admitted: posted, or run in place if `run_in_place`
  StateBase* state = nullptr;    // a ticket whose state completed (cancelled) leaves without resources
  bool run_in_place = false;     // `start` only wakes someone: run it on the admitting thread
  bool starts_task = true;       // `start` is a task's start (else a continuation)
  bool holds_resources = false;  // written by the line (under its lock) and by the holder once admitted
  // In the line itself, under its lock. The hook alone cannot tell: once
  // admitted, a ticket's hook links it into a list private to the admitter.
  bool in_line = false;
};

class ResourceAdmission {
 public:
  explicit ResourceAdmission(Resources capacity) : capacity_(capacity), available_(std::move(capacity)) {}

  const Resources& capacity() const noexcept { return capacity_; }
  // Empty if the request can ever fit; otherwise why not.
  std::string why_unschedulable(const Resources& request) const;

  // Takes the resources now (true) or queues the ticket at the back (false);
  // a queued ticket's work is started on `executor` when its turn comes.
  bool acquire_or_queue(AdmissionTicket& ticket);
  // Takes them now if they fit, ahead of the line (true); otherwise queues
  // the ticket at the front (false).
  bool acquire_first_or_queue(AdmissionTicket& ticket);
  // Takes them now if they fit, ahead of the line; false otherwise.
  bool try_acquire_first(const Resources& request);
  // Takes the ticket out of the line (and admits whoever it held back);
  // false if it was not in it.
  bool withdraw(AdmissionTicket& ticket, Executor& executor);
  // Gives resources back and admits whoever now fits.
  void release(const Resources& request, Executor& executor);
  // Admits queued tickets that fit (or that were cancelled).
  void admit_waiting(Executor& executor);
  // Hands every waiting ticket on without resources (shutdown: they see the
  // runtime stopping).
  void flush_all(Executor& executor);
  Resources available() const;

 private:
  static void start(AdmissionTicket& ticket, Executor& executor) noexcept;

  mutable std::mutex mutex_;
  const Resources capacity_;
  Resources available_;
  IntrusiveList<AdmissionTicket, AdmissionLine> line_;
};

}  // namespace fray::detail
