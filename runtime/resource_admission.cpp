#include "fray/detail/resource_admission.hpp"

namespace fray::detail {

std::string ResourceAdmission::why_unschedulable(const Resources& request) const {
  if (request.fits_in(capacity_)) return {};
  return "asks for " + request.shortfall(capacity_) + " (runtime capacity: " + capacity_.to_string() + ")";
}

bool ResourceAdmission::acquire_or_queue(AdmissionTicket& ticket) {
  std::lock_guard guard(mutex_);
  if (head_ == nullptr && ticket.request->fits_in(available_)) {
    available_.subtract(*ticket.request);
    ticket.holds_resources = true;
    return true;
  }
  ticket.next = nullptr;
  if (tail_ != nullptr) {
    tail_->next = &ticket;
  } else {
    head_ = &ticket;
  }
  tail_ = &ticket;
  return false;
}

void ResourceAdmission::release(const Resources& request, Executor& executor) {
  {
    std::lock_guard guard(mutex_);
    available_.add(request);
  }
  admit_waiting(executor);
}

void ResourceAdmission::admit_waiting(Executor& executor) {
  AdmissionTicket* admitted = nullptr;
  AdmissionTicket** admitted_tail = &admitted;
  {
    std::lock_guard guard(mutex_);
    while (head_ != nullptr) {
      AdmissionTicket* ticket = head_;
      const bool cancelled = ticket->state->is_ready();
      if (!cancelled) {
        if (!ticket->request->fits_in(available_)) break;
        available_.subtract(*ticket->request);
        ticket->holds_resources = true;
      }
      head_ = ticket->next;
      if (head_ == nullptr) tail_ = nullptr;
      ticket->next = nullptr;
      *admitted_tail = ticket;
      admitted_tail = &ticket->next;
    }
  }
  // Post outside the lock: a task may finish (and release) at once.
  while (admitted != nullptr) {
    AdmissionTicket* next = admitted->next;
    executor.post(admitted->start);
    admitted = next;
  }
}

void ResourceAdmission::flush_all(Executor& executor) {
  AdmissionTicket* waiting;
  {
    std::lock_guard guard(mutex_);
    waiting = head_;
    head_ = tail_ = nullptr;
  }
  while (waiting != nullptr) {
    AdmissionTicket* next = waiting->next;
    executor.post(waiting->start);
    waiting = next;
  }
}

Resources ResourceAdmission::available() const {
  std::lock_guard guard(mutex_);
  return available_;
}

}  // namespace fray::detail
