#include "fray/detail/actor_core.hpp"

#include "fray/detail/actor_call.hpp"

#include <boost/core/demangle.hpp>
#include <fmt/format.h>

#include "fray/detail/actor_registry.hpp"

namespace fray::detail {

void check_actor_options(TaskHost& host, const ActorOptions& options) {
  if (options.max_concurrency == 0) throw InvalidOptions("an actor's max_concurrency must be at least 1");
  if (options.get_if_exists && options.name.empty()) throw InvalidOptions("get_if_exists needs a name");
  const std::string why = host.admission().why_unschedulable(options.resources);
  if (!why.empty()) {
    const std::string label = options.name.empty() ? std::string() : fmt::format("'{}' ", options.name);
    throw TaskUnschedulable(fmt::format("actor {}{}", label, why));
  }
}

std::string actor_name_taken_message(std::string_view name) {
  return fmt::format("an actor named '{}' already exists (kill it first, or pass get_if_exists to use it)", name);
}

std::string actor_type_mismatch_message(const ActorCoreBase& actor, const std::type_info& wanted) {
  return fmt::format("actor '{}' is a {}, not a {}", actor.name(), boost::core::demangle(actor.type().name()),
                     boost::core::demangle(wanted.name()));
}

ActorCoreBase::ActorCoreBase(TaskHost& host, ActorOptions&& options, const std::type_info& type)
    : ActorMailbox(host.executor(), options.max_concurrency),
      host_(host),
      type_(type),
      max_pending_calls_(options.max_pending_calls),
      name_(std::move(options.name)),
      resources_(std::move(options.resources)) {
  kill_work_.core = this;
  kill_work_.run_work = &ActorCoreBase::on_kill;
  last_reference_work_.core = this;
  last_reference_work_.run_work = &ActorCoreBase::on_last_reference;
  admitted_work_.core = this;
  admitted_work_.run_work = &ActorCoreBase::on_admitted;
  late_admission_work_.core = this;
  late_admission_work_.run_work = &ActorCoreBase::on_late_admission;
}

ActorCoreBase::~ActorCoreBase() {
  if (construct_ != nullptr) construct_->release();
  if (ActorDeath* death = death_.load(std::memory_order_acquire)) {
    death->stopped->release();
    delete death;
  }
}

std::string ActorCoreBase::describe() const {
  const std::string type_name = boost::core::demangle(type_.name());
  if (name_.empty()) return fmt::format("actor {}", type_name);
  return fmt::format("actor '{}' ({})", name_, type_name);
}

Future<void> ActorCoreBase::ready() const { return Future<void>(new ReadyView(*construct_, host_.executor())); }

std::exception_ptr ActorCoreBase::mailbox_full_error() const {
  return std::make_exception_ptr(ActorMailboxFull(
      fmt::format("{} already has {} calls queued or running (max_pending_calls)", describe(), max_pending_calls_)));
}

void ActorCoreBase::set_construct(SharedState<void>* construct, Work* work) noexcept {
  construct_ = construct;
  enqueue(work);
}

void ActorCoreBase::open() {
  if (resources_.empty() || dead()) return open_mailbox();
  ticket_.request = &resources_;
  ticket_.start = &admitted_work_;
  ticket_.state = construct_;
  ticket_pending_.store(true, std::memory_order_relaxed);
  add_ref();  // the line's, before the line can hand the ticket on
  if (host_.admission().acquire_or_queue(ticket_)) return on_admitted(&admitted_work_);
  // Killed by shutdown while it was getting in line: its cancelled
  // construction must not wait for resources it will never use.
  if (dead()) host_.admission().admit_waiting(host_.executor());
}

// On the runtime's executor, once the admission line lets the actor in
// (with its resources, or without them when it was cancelled meanwhile).
void ActorCoreBase::on_admitted(Work* work) noexcept {
  ActorCoreBase* core = static_cast<CoreWork*>(work)->core;
  core->ticket_pending_.store(false, std::memory_order_release);
  if (!core->opened_.exchange(true, std::memory_order_acq_rel)) {
    core->ActorMailbox::open();
    core->release();  // the line's reference
    return;
  }
  // Killed while it waited: its mailbox has run already. Give back what the
  // line handed over, on the mailbox (with the line's reference).
  core->enqueue(&core->late_admission_work_);
}

void ActorCoreBase::on_late_admission(Work* work) noexcept {
  ActorCoreBase* core = static_cast<CoreWork*>(work)->core;
  if (core->object_ == ObjectState::gone && core->ticket_.holds_resources) {
    core->ticket_.holds_resources = false;
    core->host_.admission().release(core->resources_, core->host_.executor());
  }
  core->release();
}

void ActorCoreBase::discard() noexcept {
  construct_->release();  // the execution's reference: the construction never runs
  delete this;
}

bool ActorCoreBase::die(std::string message, std::exception_ptr cause) {
  auto* death = new ActorDeath;
  death->error = std::make_exception_ptr(ActorDied(message, std::move(cause)));
  death->stopped = new HomedState<void>(1, host_.executor());
  ActorDeath* expected = nullptr;
  if (death_.compare_exchange_strong(expected, death, std::memory_order_acq_rel, std::memory_order_acquire)) return true;
  death->stopped->release();
  delete death;
  return false;
}

Future<void> ActorCoreBase::kill() {
  // Dead already (maybe by a shutdown whose runtime is gone): touch only the note.
  if (!dead() && die(fmt::format("{} was killed", describe()), nullptr)) {
    host_.actors().remove_name(*this);
    stop_after_death();
  }
  ActorDeath* death = death_.load(std::memory_order_acquire);
  death->stopped->add_ref();
  return Future<void>(death->stopped);
}

bool ActorCoreBase::kill_for_shutdown_locked() noexcept {
  if (!die(fmt::format("{} was stopped: the runtime is shutting down", describe()), nullptr)) return false;
  stop_after_death();
  return true;
}

void ActorCoreBase::stop_after_death() noexcept {
  if (construct_->try_start()) construct_->complete_with_error(death_error());
  enqueue(&kill_work_);
  // Run the kill now, even if the actor still waits for resources (its
  // ticket then leaves the line when it reaches the front, or now).
  open_mailbox();
  if (!resources_.empty()) host_.admission().admit_waiting(host_.executor());
}

void ActorCoreBase::on_kill(Work* work) noexcept {
  ActorCoreBase* core = static_cast<CoreWork*>(work)->core;
  while (Work* held = core->take_held()) held->run();  // each fails: the actor is dead
  core->cancel_in_flight();
  core->settle();
}

void ActorCoreBase::construction_failed(std::exception_ptr cause) noexcept {
  std::string what = "an exception that is not a std::exception";
  try {
    std::rethrow_exception(cause);
  } catch (const std::exception& error) {
    what = error.what();
  } catch (...) {
  }
  if (die(fmt::format("{} died: its constructor threw: {}", describe(), what), std::move(cause))) {
    host_.actors().remove_name(*this);
  }
  object_ = ObjectState::gone;
  end_object_phase();
}

void ActorCoreBase::construction_skipped() noexcept {
  if (!dead()) {
    const char* why = host_.stopping() ? "the runtime shut down before it was constructed"
                                       : "its construction was cancelled";
    if (die(fmt::format("{} died: {}", describe(), why), nullptr)) host_.actors().remove_name(*this);
  }
  object_ = ObjectState::gone;
  end_object_phase();
}

void ActorCoreBase::settle_ending() noexcept {
  // Killed: as soon as no call is in progress (held calls fail, they never
  // start). Unreferenced: once the held calls have run too.
  if (object_ == ObjectState::alive && in_flight() == 0 && (dead() || !has_held())) {
    destroy_object();
    object_ = ObjectState::gone;
    end_object_phase();
  }
  if (closing_ && object_ == ObjectState::gone) close_after_current();
}

void ActorCoreBase::end_object_phase() noexcept {
  // A ticket still in line is the line's to write: on_late_admission
  // gives its resources back.
  if (!ticket_pending_.load(std::memory_order_acquire) && ticket_.holds_resources) {
    ticket_.holds_resources = false;
    host_.admission().release(resources_, host_.executor());
  }
  if (ActorDeath* death = death_.load(std::memory_order_acquire)) death->stopped->set_value();
  host_.task_finished();  // shutdown waits for every actor's object to be gone
}

void ActorCoreBase::last_reference_gone() noexcept {
  if (detached_.load(std::memory_order_acquire)) {
    // The runtime has stopped (its shutdown destroyed the object): free in place.
    if (object_ == ObjectState::alive) destroy_object();
    delete this;
    return;
  }
  // Behind every call already queued.
  enqueue(&last_reference_work_);
}

void ActorCoreBase::on_last_reference(Work* work) noexcept {
  ActorCoreBase* core = static_cast<CoreWork*>(work)->core;
  core->closing_ = true;
  core->settle();
}

void ActorCoreBase::on_closed() noexcept {
  host_.actors().unlink(*this);
  delete this;
}

}  // namespace fray::detail
