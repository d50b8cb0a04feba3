#include "fray/detail/python_actor_core.hpp"

#include <fmt/format.h>

#include "fray/python_errors.hpp"

namespace fray::detail {

PythonActorCore::PythonActorCore(std::shared_ptr<const WorkerLaunch> launch, std::shared_ptr<const void> env_lease,
                                 PythonActorOptions options, std::string class_name, std::string constructor_frame)
    : launch_(std::move(launch)),
      env_lease_(std::move(env_lease)),
      options_(std::move(options)),
      class_name_(std::move(class_name)),
      constructor_frame_(std::move(constructor_frame)) {}

void PythonActorCore::start() {
  std::lock_guard guard(mutex);
  start_process_locked();
}

void PythonActorCore::start_process_locked() {
  ++generation_;
  const std::string& who = options_.name.empty() ? class_name_ : options_.name;
  worker_ = std::make_shared<WorkerProcess>(shared_from_this(), launch_, fmt::format("{}#{}", who, generation_));
  auto* constructor = new CallState<void>();
  constructor->frame = constructor_frame_;
  constructor->is_constructor = true;
  ready_ = Future<void>(constructor);
  worker_->send_locked(constructor);
  worker_->start();
}

void PythonActorCore::submit(PendingCall* call) {
  std::exception_ptr error;
  {
    std::lock_guard guard(mutex);
    if (!dead_) {
      worker_->send_locked(call);
      return;
    }
    error = death_error_locked();
  }
  call->fail(error);
}

std::exception_ptr PythonActorCore::death_error_locked() const {
  const std::string& who = options_.name.empty() ? class_name_ : "'" + options_.name + "' (" + class_name_ + ")";
  return std::make_exception_ptr(ActorDied(fmt::format("the Python actor {} is dead: {}", who, death_reason_), death_cause_));
}

void PythonActorCore::die_locked(std::exception_ptr cause, std::string why) {
  dead_ = true;
  death_reason_ = std::move(why);
  death_cause_ = std::move(cause);
  if (worker_) worker_->kill_locked(WorkerExit::Cause::shutdown);
}

void PythonActorCore::kill() {
  std::lock_guard guard(mutex);
  if (!dead_) die_locked(nullptr, "it was killed");
}

void PythonActorCore::last_handle_gone() {
  std::lock_guard guard(mutex);
  closing_ = true;
  if (!dead_ && worker_) worker_->close_input_locked();
}

void PythonActorCore::on_answered(WorkerProcess&, Completions& done) {
  for (Completion& c : done) {
    if (c.call->is_constructor) {
      if (auto* error = std::get_if<std::exception_ptr>(&c.outcome); error != nullptr && !dead_) {
        die_locked(*error, "its constructor raised");
      }
    }
    // After the constructor failed, the calls behind it were answered
    // "no instance": they fail as every call on a dead actor does.
    if (dead_) c.outcome = death_error_locked();
  }
}

void PythonActorCore::on_exit(WorkerProcess& worker, const WorkerExit& exit, std::deque<PendingCall*> unanswered,
                              Completions& done) {
  if (worker_.get() == &worker) worker_.reset();
  if (!dead_ && closing_ && unanswered.empty()) {
    dead_ = true;
    death_reason_ = "all its handles are gone";
  }
  if (dead_) {
    for (PendingCall* call : unanswered) done.push_back({call, death_error_locked()});
    env_lease_.reset();  // dead, and its process is gone: no process will run in the env again
    return;
  }
  std::exception_ptr crash;
  switch (exit.cause) {
    case WorkerExit::Cause::timeout:
      crash = std::make_exception_ptr(PythonCallTimeout(fmt::format(
          "the Python actor's call did not finish within {} ms: its process {} (pid {}) was killed",
          !unanswered.empty() && unanswered.front()->timeout ? unanswered.front()->timeout->count() : 0, worker.label(),
          exit.pid)));
      break;
    case WorkerExit::Cause::cancel:
      crash = std::make_exception_ptr(TaskCancelled(fmt::format(
          "the Python actor's call was cancelled and did not stop within the grace period: its process {} (pid {}) was "
          "killed",
          worker.label(), exit.pid)));
      break;
    default:
      crash = std::make_exception_ptr(
          WorkerCrashed(crash_message(worker.label(), exit), exit.pid, exit.exit_code, exit.signal, exit.last_stderr));
      break;
  }
  const bool may_restart = !closing_ && (options_.max_restarts < 0 || restarts_ < options_.max_restarts);
  if (!may_restart) {
    dead_ = true;
    death_reason_ = closing_ ? "its process ended after its handles were gone"
                             : fmt::format("its process died and it was restarted {} time(s) already (max_restarts {})",
                                           restarts_, options_.max_restarts);
    // The last crash, as Ray's ActorDiedError carries its cause.
    death_cause_ = crash;
    for (PendingCall* call : unanswered) done.push_back({call, death_error_locked()});
    env_lease_.reset();
    return;
  }
  ++restarts_;
  if (!unanswered.empty()) {
    PendingCall* head = unanswered.front();
    const bool retry = !head->is_constructor && exit.cause == WorkerExit::Cause::none && head->take_retry();
    if (!retry) {
      unanswered.pop_front();
      // A constructor that crashed is simply run again; its old ready() fails.
      done.push_back({head, crash});
    }
  }
  start_process_locked();
  for (PendingCall* call : unanswered) {
    if (call->is_constructor) {
      done.push_back({call, crash});  // superseded by the new process's
    } else {
      worker_->send_locked(call);
    }
  }
}

void PythonActorCore::on_log(const WorkerLogLine& line) {
  if (options_.on_log) {
    options_.on_log(line);
  } else {
    log_to_stderr(line);
  }
}

std::vector<std::shared_ptr<WorkerProcess>> PythonActorCore::workers_locked() {
  if (!worker_) return {};
  return {worker_};
}

Future<void> PythonActorCore::ready() {
  std::lock_guard guard(mutex);
  return ready_;
}

bool PythonActorCore::dead() {
  std::lock_guard guard(mutex);
  return dead_;
}

int PythonActorCore::pid() {
  std::lock_guard guard(mutex);
  return worker_ ? worker_->pid() : -1;
}

int PythonActorCore::restarts() {
  std::lock_guard guard(mutex);
  return restarts_;
}

}  // namespace fray::detail
