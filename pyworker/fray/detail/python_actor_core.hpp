// The engine behind a Python actor: one worker process at a time that holds
// the instance. The constructor runs first, alone: calls wait here until it
// has answered, then go to the process as they come (it runs them in
// order). When the process dies, the call that was running fails (or runs
// again, with max_task_retries) and the calls that never started are sent
// again to a new process, after its constructor; a constructor that
// crashes kConstructorCrashesInARow times in a row ends the actor.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "fray/detail/worker_process.hpp"
#include "fray/future.hpp"
#include "fray/python_actor_options.hpp"

namespace fray::detail {

class PythonActorCore final : public WorkerOwner {
 public:
  static constexpr int kConstructorCrashesInARow = 3;

  // `env_lease` keeps the env on disk until the actor is dead and its
  // process gone (detail::env_lease).
  PythonActorCore(std::shared_ptr<const WorkerLaunch> launch, std::shared_ptr<const void> env_lease,
                  PythonActorOptions options, std::string class_name, std::string constructor_request);

  // Starts the first process and the constructor.
  void start();
  // Any thread. Takes over the engine's reference of `call`.
  void submit(PendingCall* call);
  // kill(): every call fails with ActorDied, the process is killed.
  void kill();
  // The last handle is gone: the process ends once it has answered.
  void last_handle_gone();

  Future<void> ready();
  bool dead();
  int pid();
  int restarts();
  const std::string& name() const noexcept { return options_.name; }
  const std::string& class_name() const noexcept { return class_name_; }
  std::size_t max_frame_bytes() const noexcept { return launch_->max_frame_bytes; }
  const PythonActorOptions& options() const noexcept { return options_; }

  void on_answered(WorkerProcess& worker, Completions& done) override;
  void on_withdrawn(WorkerProcess& worker, PendingCall* call, Completions& done) override;
  void on_exit(WorkerProcess& worker, const WorkerExit& exit, Unfinished unfinished, Completions& done) override;
  void on_log(const WorkerLogLine& line) override;
  std::deque<PendingCall*>& waiting_locked() override { return waiting_; }
  std::vector<std::shared_ptr<WorkerProcess>> workers_locked() override;

 private:
  void start_process_locked(CallState<void>* constructor = nullptr);
  void send_waiting_locked(Completions& done);
  std::exception_ptr death_error_locked() const;
  // Marks it dead, fails what waits, kills the process (its exit fails the rest).
  void die_locked(std::exception_ptr cause, std::string why, Completions& done);
  std::exception_ptr crash_error_locked(const WorkerProcess& worker, const WorkerExit& exit, PendingCall* running) const;

  std::shared_ptr<const WorkerLaunch> launch_;
  std::shared_ptr<const void> env_lease_;
  PythonActorOptions options_;
  std::string class_name_;
  std::string constructor_request_;
  std::shared_ptr<WorkerProcess> worker_;
  Future<void> ready_;
  // Calls made while the current process's constructor has not answered.
  std::deque<PendingCall*> waiting_;
  bool constructed_ = false;  // the current process's constructor returned
  int constructor_crashes_ = 0;  // in a row
  int restarts_ = 0;
  int generation_ = 0;
  bool dead_ = false;
  bool closing_ = false;  // the last handle is gone
  std::string death_reason_;
  std::exception_ptr death_cause_;
};

}  // namespace fray::detail
