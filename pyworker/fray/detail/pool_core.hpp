// The engine behind a WorkerPool: its workers, the calls waiting for one,
// and the policy: an idle worker first, else a new one up to the maximum,
// else pipelined behind the least busy; replacement after a crash; retiring
// after max_calls or an idle timeout.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
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
  void on_exit(WorkerProcess& worker, const WorkerExit& exit, std::deque<PendingCall*> unanswered,
               Completions& done) override;
  void on_log(const WorkerLogLine& line) override;
  bool unqueue_locked(PendingCall* call) override;
  std::vector<std::shared_ptr<WorkerProcess>> workers_locked() override { return workers_; }

 private:
  bool place_locked(PendingCall* call);
  WorkerProcess& spawn_locked();
  void send_locked(WorkerProcess& worker, PendingCall* call);
  void drain_queue_locked();
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
};

}  // namespace fray::detail
