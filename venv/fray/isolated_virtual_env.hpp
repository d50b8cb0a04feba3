// IsolatedVirtualEnv: a cached Python env with its own packages and env vars
// (Ray's runtime_env={"pip": [...], "env_vars": {...}}), and processes run in
// it. Envs are content-addressed: the same packages, interpreter and index
// options give the same env, built once and shared by every process that
// asks, safely under concurrency and crashes.
//
//   fray::IsolatedVirtualEnv venv(fray::VenvOptions{}.with_package("numpy").with_env("OMP_NUM_THREADS", "1"));
//   fray::ProcessResult r = co_await venv.run({"python", "-c", "import numpy"});   // or .get()
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fray/future.hpp"
#include "fray/process_result.hpp"
#include "fray/run_options.hpp"
#include "fray/venv_errors.hpp"
#include "fray/venv_options.hpp"

namespace fray {

class IsolatedVirtualEnv;

namespace detail {
// A share of the env's lock that outlives close(): what keeps the env on
// disk while Python workers run in it. Null when the env is closed.
std::shared_ptr<const void> env_lease(const IsolatedVirtualEnv& env);
}  // namespace detail

class IsolatedVirtualEnv {
 public:
  // Opens the env: at once when it is cached (a cache hit runs nothing),
  // else builds it first, blocking for as long as the installer takes
  // (inside a coroutine task, construct it in a plain task: ctx.run(...)).
  // Holds the env's shared lock until closed, so `gc` never removes it.
  // Throws a RuntimeEnvError (see fray/venv_errors.hpp) or InvalidOptions.
  explicit IsolatedVirtualEnv(VenvOptions options);
  IsolatedVirtualEnv(IsolatedVirtualEnv&&) noexcept;
  IsolatedVirtualEnv& operator=(IsolatedVirtualEnv&&) noexcept;
  IsolatedVirtualEnv(const IsolatedVirtualEnv&) = delete;
  IsolatedVirtualEnv& operator=(const IsolatedVirtualEnv&) = delete;
  // close().
  ~IsolatedVirtualEnv();

  // The cache key of the env `options` describe, without building it.
  static std::string key_of(const VenvOptions& options);
  // Its directory when it is built (and complete), without building it.
  static std::optional<std::filesystem::path> find(const VenvOptions& options);

  const std::string& key() const;
  // The env's directory (what VIRTUAL_ENV is set to).
  const std::filesystem::path& path() const;
  // path()/bin/python.
  std::filesystem::path python() const;
  // The log of the builds of this env (fray's steps and the installer's output).
  const std::filesystem::path& log_file() const;
  // True when this open built the env; false on a cache hit.
  bool built_now() const;

  // The environment a process run with `options` gets, as "KEY=VALUE": the
  // inherit policy's share of this process's environment (as it was when
  // the env was opened), the env's vars, the run's vars, then VIRTUAL_ENV,
  // the env's bin first on PATH and PYTHONNOUSERSITE=1.
  std::vector<std::string> child_environment(const RunOptions& options = {}) const;

  // Runs argv in the env: argv[0] is looked up on the child's PATH (so
  // "python" is the env's). The future completes once the process is
  // reaped; its errors (CommandNotFound, ProcessTimeout, ProcessFailed, ...)
  // surface at get()/co_await. cancel() on it stops the process group.
  Future<ProcessResult> run(std::vector<std::string> argv, RunOptions options = {}) const;

  // Stops the processes this env started that still run (SIGTERM, the
  // grace period, SIGKILL, reaped; their futures fail with TaskCancelled)
  // and releases the env; pools and Python actors made from it keep it
  // until they end. Idempotent; path() and key() stay readable.
  void close() noexcept;
  bool is_open() const noexcept;

 private:
  friend std::shared_ptr<const void> detail::env_lease(const IsolatedVirtualEnv& env);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fray
