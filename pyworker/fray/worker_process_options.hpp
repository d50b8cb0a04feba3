// What a Python worker process gets, for pools and actors alike: env vars on
// top of the env's own, a working directory, where its output goes, the
// frame size limit, how long a cancelled call has to stop, and the calls'
// default timeouts.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "fray/duration_limit.hpp"
#include "fray/errors.hpp"
#include "fray/worker_log.hpp"

namespace fray {

template <class Self>
struct WorkerProcessOptions {
  // Added to the env's own variables (they win). A pool serves one set of
  // them, so they never leak into another pool's workers.
  std::map<std::string, std::string> env;
  // The workers' working directory, also first on sys.path (as for
  // `python -c`); unset: this process's.
  std::optional<std::filesystem::path> cwd;
  // Each line the workers print; unset: log_to_stderr.
  WorkerLogSink on_log;
  // Requests and results above this many bytes of JSON fail with FrameTooLarge.
  std::size_t max_frame_bytes = std::size_t(256) << 20;
  // cancel() sends SIGINT (KeyboardInterrupt in the call); a call still
  // running this long after is stopped by killing its worker.
  std::chrono::milliseconds cancel_grace = std::chrono::seconds(2);
  // A default timeout for every call (PythonCallOptions::timeout wins).
  std::optional<std::chrono::milliseconds> call_timeout;
  // A default queue timeout for every call (PythonCallOptions::queue_timeout wins).
  std::optional<std::chrono::milliseconds> call_queue_timeout;

  Self& with_env(std::string key, std::string value) { env[std::move(key)] = std::move(value); return self(); }
  Self& with_cwd(std::filesystem::path dir) { cwd = std::move(dir); return self(); }
  Self& with_log_sink(WorkerLogSink sink) { on_log = std::move(sink); return self(); }
  Self& with_max_frame_bytes(std::size_t bytes) { max_frame_bytes = bytes; return self(); }
  // Any duration type, saturated at fray::never_duration (100 years: never).
  template <class Rep, class Period>
  Self& with_cancel_grace(std::chrono::duration<Rep, Period> grace) {
    cancel_grace = clamp_duration<std::chrono::milliseconds>(grace);
    return self();
  }
  template <class Rep, class Period>
  Self& with_call_timeout(std::chrono::duration<Rep, Period> timeout) {
    call_timeout = clamp_duration<std::chrono::milliseconds>(timeout);
    return self();
  }
  template <class Rep, class Period>
  Self& with_call_queue_timeout(std::chrono::duration<Rep, Period> timeout) {
    call_queue_timeout = clamp_duration<std::chrono::milliseconds>(timeout);
    return self();
  }

  // Throws InvalidOptions for a call_timeout or call_queue_timeout of 0 or
  // less (the pool or actor is not made).
  void check_call_defaults() const {
    for (auto [name, value] : {std::pair{"call_timeout", call_timeout}, std::pair{"call_queue_timeout", call_queue_timeout}}) {
      if (value && value->count() <= 0) {
        throw InvalidOptions(fmt::format("{} must be above 0 (got {} ms; 100 years or more means never)", name, value->count()));
      }
    }
  }

 private:
  Self& self() { return static_cast<Self&>(*this); }
};

}  // namespace fray
