#include "fray/worker_pool.hpp"

namespace fray {

namespace detail {
std::size_t pool_max_frame_bytes(const PoolCore& pool) noexcept { return pool.max_frame_bytes(); }
void pool_submit(PoolCore& pool, PendingCall* call) { pool.submit(call); }
}  // namespace detail

WorkerPool::WorkerPool(const IsolatedVirtualEnv& env, WorkerPoolOptions options) {
  options.check_call_defaults();
  auto launch = detail::make_worker_launch(env, options.env, options.cwd, options.max_frame_bytes, options.cancel_grace);
  core_ = std::make_shared<detail::PoolCore>(std::move(launch), detail::env_lease(env), std::move(options));
  if (core_->options().min_workers > 0) core_->prestart(core_->options().min_workers);
}

WorkerPool::~WorkerPool() { close(); }

void WorkerPool::close() noexcept {
  if (core_) core_->close();
}

detail::PoolCore& WorkerPool::core() const {
  if (!core_) throw Error("empty fray WorkerPool (moved from)");
  return *core_;
}

}  // namespace fray
