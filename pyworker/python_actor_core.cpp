#include "fray/detail/python_actor_core.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "fray/python_errors.hpp"

namespace fray::detail {

PythonActorCore::PythonActorCore(std::shared_ptr<const WorkerLaunch> launch, std::shared_ptr<const void> env_lease,
                                 PythonActorOptions options, std::string class_name, std::string constructor_request)
    : launch_(std::move(launch)),
      env_lease_(std::move(env_lease)),
      options_(std::move(options)),
      class_name_(std::move(class_name)),
      constructor_request_(std::move(constructor_request)) {}

void PythonActorCore::start() {
  std::lock_guard guard(mutex);
  start_process_locked();
}

// `constructor`: the previous process's, when it did not complete there
// (its ready() future carries over).
void PythonActorCore::start_process_locked(CallState<void>* constructor) {
  ++generation_;
  const std::string& who = options_.name.empty() ? class_name_ : options_.name;
  worker_ = std::make_shared<WorkerProcess>(shared_from_this(), launch_, fmt::format("{}#{}", who, generation_));
  constructed_ = false;
  if (constructor == nullptr) {
    constructor = new CallState<void>();
    constructor->request = constructor_request_;
    constructor->is_constructor = true;
    // ready() stays done once a constructor has returned; a restart's own
    // constructor call is the actor's business.
    Future<void> future(constructor);
    if (!ready_.valid() || !ready_.ready() || ready_.has_error()) ready_ = std::move(future);
  }
  worker_->send_locked(constructor);
  worker_->start();
}

void PythonActorCore::submit(PendingCall* call) {
  std::exception_ptr error;
  {
    std::lock_guard guard(mutex);
    if (!dead_) {
      watch_start_deadline_locked(*call);
      if (constructed_) {
        worker_->send_locked(call);
      } else {
        waiting_.push_back(call);  // sent once the constructor has answered
      }
      return;
    }
    error = death_error_locked();
  }
  call->fail(error);
}

void PythonActorCore::send_waiting_locked(Completions& done) {
  const auto now = std::chrono::steady_clock::now();
  while (!waiting_.empty()) {
    PendingCall* call = waiting_.front();
    waiting_.pop_front();
    if (call->start_overdue(now)) {
      done.push_back({call, queue_timeout_error(*call)});  // never sent
    } else {
      worker_->send_locked(call, false);
    }
  }
  worker_->flush_locked();
  if (closing_) worker_->close_input_locked();
}

std::exception_ptr PythonActorCore::death_error_locked() const {
  const std::string& who = options_.name.empty() ? class_name_ : "'" + options_.name + "' (" + class_name_ + ")";
  return std::make_exception_ptr(ActorDied(fmt::format("the Python actor {} is dead: {}", who, death_reason_), death_cause_));
}

void PythonActorCore::die_locked(std::exception_ptr cause, std::string why, Completions& done) {
  dead_ = true;
  death_reason_ = std::move(why);
  death_cause_ = std::move(cause);
  for (PendingCall* call : std::exchange(waiting_, {})) done.push_back({call, death_error_locked()});
  if (worker_) worker_->kill_locked(WorkerExit::Cause::shutdown);
}

void PythonActorCore::kill() {
  Completions done;
  {
    std::lock_guard guard(mutex);
    if (!dead_) die_locked(nullptr, "it was killed", done);
  }
  run_completions(done);
}

void PythonActorCore::last_handle_gone() {
  std::lock_guard guard(mutex);
  closing_ = true;
  if (!dead_ && worker_ && constructed_) worker_->close_input_locked();
}

void PythonActorCore::on_answered(WorkerProcess& worker, Completions& done) {
  if (worker_.get() != &worker) return;
  Completions more;
  for (Completion& c : done) {
    if (!c.call->is_constructor || dead_) continue;
    if (auto* error = std::get_if<std::exception_ptr>(&c.outcome)) {
      die_locked(*error, "its constructor raised", more);
      c.outcome = death_error_locked();  // ready() fails as every call does
    } else {
      constructed_ = true;
      constructor_crashes_ = 0;
      send_waiting_locked(more);
    }
  }
  for (Completion& c : more) done.push_back(std::move(c));
}

void PythonActorCore::on_withdrawn(WorkerProcess& worker, PendingCall* call, Completions&) {
  // An actor withdraws nothing; should a call come back anyway, it runs next.
  if (worker_.get() == &worker && constructed_) {
    worker_->send_locked(call);
  } else {
    waiting_.push_front(call);
  }
}

std::exception_ptr PythonActorCore::crash_error_locked(const WorkerProcess& worker, const WorkerExit& exit,
                                                       PendingCall* running) const {
  switch (exit.cause) {
    case WorkerExit::Cause::timeout:
      return std::make_exception_ptr(PythonCallTimeout(fmt::format(
          "the Python actor's call did not finish within {} ms: its process {} (pid {}) was killed",
          running != nullptr && running->timeout ? running->timeout->count() : 0, worker.label(), exit.pid)));
    case WorkerExit::Cause::cancel:
      return std::make_exception_ptr(TaskCancelled(fmt::format(
          "the Python actor's call was cancelled and did not stop within the grace period: its process {} (pid {}) "
          "was killed",
          worker.label(), exit.pid)));
    default:
      if (running != nullptr && running->cancelling) {
        return std::make_exception_ptr(TaskCancelled("the Python actor's call was cancelled while it ran"));
      }
      return std::make_exception_ptr(
          WorkerCrashed(crash_message(worker.label(), exit), exit.pid, exit.exit_code, exit.signal, exit.last_stderr));
  }
}

void PythonActorCore::on_exit(WorkerProcess& worker, const WorkerExit& exit, Unfinished unfinished, Completions& done) {
  if (worker_.get() == &worker) worker_.reset();
  PendingCall* running = unfinished.running;
  // The calls to send again, in order, once a new process is constructed.
  std::deque<PendingCall*> again;
  CallState<void>* constructor = nullptr;  // never started: the new process runs it
  const auto now = std::chrono::steady_clock::now();
  for (PendingCall* call : unfinished.not_started) {
    if (call->is_constructor) {
      constructor = static_cast<CallState<void>*>(call);
    } else if (call->cancelling) {
      done.push_back({call, std::make_exception_ptr(TaskCancelled("the Python call was cancelled before it started"))});
    } else if (call->start_overdue(now)) {
      done.push_back({call, queue_timeout_error(*call)});
    } else {
      again.push_back(call);
    }
  }
  again.insert(again.end(), waiting_.begin(), waiting_.end());
  waiting_.clear();
  auto fail_all = [&](const std::exception_ptr& error) {
    if (running != nullptr) done.push_back({running, error});  // the constructor too: ready() fails
    if (constructor != nullptr) done.push_back({constructor, error});
    for (PendingCall* call : again) done.push_back({call, error});
    env_lease_.reset();  // no process will run in the env again
  };
  if (!dead_ && closing_ && running == nullptr && again.empty() && constructor == nullptr) {
    dead_ = true;
    death_reason_ = "all its handles are gone";
  }
  if (dead_) return fail_all(death_error_locked());

  std::exception_ptr crash = crash_error_locked(worker, exit, running);
  // A process that died before its constructor returned (a crash in it, an
  // interpreter that cannot start): restarting would most likely do the same.
  if (!constructed_ && ++constructor_crashes_ >= kConstructorCrashesInARow) {
    dead_ = true;
    death_reason_ = fmt::format("its constructor did not complete {} times in a row (its process died each time)",
                                kConstructorCrashesInARow);
    death_cause_ = crash;
    return fail_all(death_error_locked());
  }
  // With its handles gone, it restarts only to answer the calls made.
  const bool work_left = !again.empty() || (running != nullptr && !running->is_constructor && running->retries_left != 0);
  const bool may_restart =
      (!closing_ || work_left) && (options_.max_restarts < 0 || restarts_ < options_.max_restarts);
  if (!may_restart) {
    dead_ = true;
    death_reason_ = closing_ ? "its process ended after its handles were gone"
                             : fmt::format("its process died and it was restarted {} time(s) already (max_restarts {})",
                                           restarts_, options_.max_restarts);
    // The last crash, as Ray's ActorDiedError carries its cause.
    death_cause_ = crash;
    return fail_all(death_error_locked());
  }
  ++restarts_;
  if (running != nullptr && running->is_constructor) {
    // It runs again in the new process: ready() waits for that one.
    constructor = static_cast<CallState<void>*>(running);
  } else if (running != nullptr) {
    const bool retry = !running->cancelling && exit.cause == WorkerExit::Cause::none && running->take_retry();
    if (retry) {
      again.push_front(running);
    } else {
      done.push_back({running, crash});
    }
  }
  waiting_ = std::move(again);
  start_process_locked(constructor);
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
