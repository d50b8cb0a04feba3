// WorkerPool: warm Python worker processes of one isolated env (and one set
// of env vars) that run "package.module:function" calls and hand back fray
// futures, as Ray's @ray.remote(runtime_env=...) functions do.
//
//   fray::IsolatedVirtualEnv venv(fray::VenvOptions{}.with_package("numpy"));
//   fray::WorkerPool pool(venv, fray::WorkerPoolOptions{}.with_max_workers(4));
//   fray::Future<double> mean = pool.call<double>("numpy:mean", std::vector<double>{1, 2, 3});
//   auto task = ctx.run(pool.function<double>("numpy:mean"), std::vector<double>{1, 2});   // retries, resources
//
// Each worker is the env's bin/python running fray_worker.py, started on
// demand up to max_workers, reused across calls, stopped after idle_timeout,
// replaced after max_calls. Calls cross as JSON (fray/python_args.hpp); the
// future's R is what the result converts to (boost::json::value_to<R>),
// void to ignore it.
//
// Errors, at get()/co_await: PythonError (the exception with its
// traceback), PythonFunctionNotFound, WorkerCrashed (the worker died; the
// pool replaced it, other calls carry on), PythonCallTimeout (its worker was
// killed and replaced), FrameTooLarge, UnsupportedJson (an argument or a
// result JSON cannot carry: fray/python_json.hpp), TaskCancelled (cancel() interrupts the
// call with SIGINT, then kills the worker after cancel_grace).
//
// The env must be open when the pool is made; the pool then keeps the env
// on disk (a share of its lock: VenvCache::remove throws EnvInUse) until it
// is closed, even if the env is closed first. The destructor fails queued
// calls with TaskCancelled, stops the workers and reaps them.
#pragma once

#include <boost/json/value.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "fray/detail/pool_core.hpp"
#include "fray/detail/worker_launch.hpp"
#include "fray/future.hpp"
#include "fray/isolated_virtual_env.hpp"
#include "fray/python_args.hpp"
#include "fray/python_errors.hpp"
#include "fray/python_function.hpp"
#include "fray/worker_pool_options.hpp"

namespace fray {

class WorkerPool {
 public:
  // Starts min_workers workers; throws InvalidOptions, WorkerProgramNotFound,
  // or Error when the env is closed.
  explicit WorkerPool(const IsolatedVirtualEnv& env, WorkerPoolOptions options = {});
  WorkerPool(WorkerPool&&) noexcept = default;
  WorkerPool& operator=(WorkerPool&& other) noexcept {
    if (this != &other) {
      close();
      core_ = std::move(other.core_);
    }
    return *this;
  }
  ~WorkerPool();

  // Calls function(args...) in a worker: "package.module:function" (a dotted
  // path after the colon reaches a class's static method, say).
  template <class R = boost::json::value, class... Args>
  Future<R> call(std::string_view function, Args&&... args) const {
    return call<R>(PythonCallOptions{}, function, std::forward<Args>(args)...);
  }
  template <class R = boost::json::value, class... Args>
  Future<R> call(const PythonCallOptions& options, std::string_view function, Args&&... args) const {
    auto packed = detail::pack_arguments(std::forward<Args>(args)...);
    return submit<R>(options, function, std::move(packed));
  }

  // The same with arguments known only at run time (already JSON).
  Future<boost::json::value> call_json(const PythonCallOptions& options, std::string_view function,
                                       boost::json::array args, boost::json::object kwargs = {}) const {
    return submit<boost::json::value>(options, function, detail::PackedArgs{std::move(args), std::move(kwargs)});
  }

  // The function as something ctx.run(...) takes, so TaskOptions (retries,
  // resources, a name) apply: ctx.run(options, pool.function<int>("m:f"), 1, 2).
  template <class R = boost::json::value>
  PythonFunction<R> function(std::string name, PythonCallOptions options = {}) const {
    return PythonFunction<R>(core_, std::move(name), options);
  }

  // Starts workers now, up to `count` (and max_workers) in all.
  void prestart(std::size_t count) { core().prestart(count); }
  // Live worker processes (starting, running or stopping).
  std::size_t size() const { return core().live_workers(); }
  std::vector<int> worker_pids() const { return core().worker_pids(); }
  // Stops everything now (the destructor does it too).
  void close() noexcept;

 private:
  template <class R>
  Future<R> submit(const PythonCallOptions& options, std::string_view function, detail::PackedArgs&& packed) const {
    return detail::submit_call<R>(core_, options, function, std::move(packed));
  }
  detail::PoolCore& core() const;

  std::shared_ptr<detail::PoolCore> core_;
};

}  // namespace fray
