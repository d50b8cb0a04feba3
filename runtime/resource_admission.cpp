#include "fray/detail/resource_admission.hpp"

namespace fray::detail {

std::string ResourceAdmission::why_unschedulable(const Resources& request) const {
  if (request.fits_in(capacity_)) return {};
  return "asks for " + request.shortfall(capacity_) + " (runtime capacity: " + capacity_.to_string() + ")";
}

bool ResourceAdmission::acquire_or_queue(AdmissionTicket& ticket) {
  std::lock_guard guard(mutex_);
  if (line_.empty() && ticket.request->fits_in(available_)) {
    available_.subtract(*ticket.request);
    ticket.holds_resources = true;
    return true;
  }
  line_.push_back(ticket);
  ticket.in_line = true;
  return false;
}

bool ResourceAdmission::acquire_first_or_queue(AdmissionTicket& ticket) {
  std::lock_guard guard(mutex_);
  if (ticket.request->fits_in(available_)) {
    available_.subtract(*ticket.request);
    ticket.holds_resources = true;
    return true;
  }
  line_.push_front(ticket);
  ticket.in_line = true;
  return false;
}

bool ResourceAdmission::try_acquire_first(const Resources& request) {
  std::lock_guard guard(mutex_);
  if (!request.fits_in(available_)) return false;
  available_.subtract(request);
  return true;
}

bool ResourceAdmission::withdraw(AdmissionTicket& ticket, Executor& executor) {
  {
    std::lock_guard guard(mutex_);
    if (!ticket.in_line) return false;
    line_.remove(ticket);
    ticket.in_line = false;
  }
  admit_waiting(executor);
  return true;
}

void ResourceAdmission::release(const Resources& request, Executor& executor) {
  {
    std::lock_guard guard(mutex_);
    available_.add(request);
  }
  admit_waiting(executor);
}

void ResourceAdmission::start(AdmissionTicket& ticket, Executor& executor) noexcept {
  if (ticket.run_in_place) {
    ticket.start->run();
  } else if (ticket.starts_task) {
    executor.post_task(ticket.start);
  } else {
    executor.post(ticket.start);
  }
}

void ResourceAdmission::admit_waiting(Executor& executor) {
  // Out of the line, their links are free for this list of our own.
  IntrusiveList<AdmissionTicket, AdmissionLine> admitted;
  {
    std::lock_guard guard(mutex_);
    while (AdmissionTicket* ticket = line_.front()) {
      const bool cancelled = ticket->state != nullptr && ticket->state->is_ready();
      if (!cancelled) {
        if (!ticket->request->fits_in(available_)) break;
        available_.subtract(*ticket->request);
        ticket->holds_resources = true;
      }
      line_.remove(*ticket);
      ticket->in_line = false;
      admitted.push_back(*ticket);
    }
  }
  // Outside the lock: a task may finish (and release) at once.
  while (AdmissionTicket* ticket = admitted.pop_front()) start(*ticket, executor);
}

void ResourceAdmission::flush_all(Executor& executor) {
  IntrusiveList<AdmissionTicket, AdmissionLine> waiting;
  {
    std::lock_guard guard(mutex_);
    while (AdmissionTicket* ticket = line_.pop_front()) {
      ticket->in_line = false;
      waiting.push_back(*ticket);
    }
  }
  while (AdmissionTicket* ticket = waiting.pop_front()) start(*ticket, executor);
}

Resources ResourceAdmission::available() const {
  std::lock_guard guard(mutex_);
  return available_;
}

}  // namespace fray::detail
