// The engine behind a WorkerPool: its workers, the calls waiting for one,
// and the policy: an idle worker first, else a new one up to the maximum,
// else queued in the least busy worker whose calls are all expected to be
// short (pipeline_threshold), else waiting here; a call queued behind one
// that turned out long moves to a worker that frees up. A crash fails or
// retries only the call that ran; calls that never started go to another
// worker. Replacement after a crash; retiring after max_calls or an idle
// timeout.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "fray/detail/worker_process.hpp"
#include "fray/worker_pool_options.hpp"

namespace fray::detail {

class PoolCore final : public WorkerOwner {
 public:
  // `env_lease` keeps the env on disk until the pool is closed and its
  // workers are gone (detail::env_lease).
  PoolCore(std::shared_ptr<const WorkerLaunch> launch, std::shared_ptr<const void> env_lease, WorkerPoolOptions options);

  // Any thread. Takes over the engine's reference of `call`.
  void submit(PendingCall* call);
  void prestart(std::size_t count);
  // Fails what waits, stops the workers, waits until they are reaped.
  void close() noexcept;

  std::size_t live_workers();
  std::vector<int> worker_pids();
  const WorkerPoolOptions& options() const noexcept { return options_; }
  std::size_t max_frame_bytes() const noexcept { return launch_->max_frame_bytes; }

  void on_answered(WorkerProcess& worker, Completions& done) override;
  void on_withdrawn(WorkerProcess& worker, PendingCall* call, Completions& done) override;
  void on_looked(WorkerProcess& worker) override;
  void on_exit(WorkerProcess& worker, const WorkerExit& exit, Unfinished unfinished, Completions& done) override;
  void on_log(const WorkerLogLine& line) override;
  std::deque<PendingCall*>& waiting_locked() override { return queue_; }
  std::vector<std::shared_ptr<WorkerProcess>> workers_locked() override { return workers_; }

 private:
  bool place_locked(PendingCall* call);
  // May `worker` take a call behind the ones it has (all expected short)?
  bool runs_short_locked(const WorkerProcess& worker, std::chrono::steady_clock::time_point now) const;
  void learn_durations_locked(const Completions& done);
  bool expected_short_locked(std::size_t route_key) const;
  // Moves calls queued behind a long call to free workers (I/O thread).
  void rebalance_locked();
  void arm_rebalance_timer_locked();
  // The error for what the exit of `worker` left running.
  std::exception_ptr running_call_error_locked(const WorkerProcess& worker, const WorkerExit& exit, PendingCall* call);
  WorkerProcess& spawn_locked();
  void send_locked(WorkerProcess& worker, PendingCall* call);
  // Sends what waits here to workers that take it; a call past its queue
  // timeout fails instead (into `done`).
  void drain_queue_locked(Completions& done);
  std::size_t accepting_locked() const;
  void arm_idle_timer_locked();
  void on_idle_timer();
  void release_env_if_done_locked();

  std::shared_ptr<const WorkerLaunch> launch_;
  std::shared_ptr<const void> env_lease_;
  WorkerPoolOptions options_;
  std::size_t max_workers_;
  std::vector<std::shared_ptr<WorkerProcess>> workers_;
  std::deque<PendingCall*> queue_;
  bool closed_ = false;
  bool draining_ = false;
  std::uint64_t next_number_ = 1;
  std::condition_variable all_exited_;
  std::unique_ptr<boost::asio::steady_timer> idle_timer_;
  bool idle_timer_armed_ = false;
  std::unique_ptr<boost::asio::steady_timer> rebalance_timer_;
  bool rebalance_timer_armed_ = false;
  // Each function's recent run time (an average weighted to the last runs).
  std::unordered_map<std::size_t, std::chrono::steady_clock::duration> expected_;
  // Workers in a row that exited before they started any call.
  int start_failures_ = 0;
};

}  // namespace fray::detail
