// WorkerPoolOptions: how many Python workers a pool keeps and for how long.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "fray/worker_process_options.hpp"
#include "fray/duration_limit.hpp"

namespace fray {

struct WorkerPoolOptions : WorkerProcessOptions<WorkerPoolOptions> {
  // Names the workers in logs and errors: "<name>#<n>".
  std::string name = "python";
  // Workers started on demand up to this many; 0: one per core.
  std::size_t max_workers = 0;
  // Started at once (prestarted) and never stopped for being idle.
  std::size_t min_workers = 0;
  // A worker idle this long is stopped (down to min_workers); 0: never.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // A worker is replaced after this many calls (leaky user code); 0: never.
  std::uint64_t max_calls = 0;
  // When every worker is busy and the pool is at max_workers, up to this
  // many calls are queued in each worker (sent ahead, so it answers them
  // back to back). 1 sends a call only to an idle worker.
  std::size_t pipeline_depth = 8;
  // A call is queued in a busy worker only behind calls expected to be
  // short: each of them of a function whose recent runs took less than this
  // on average, the one running not for this long yet. Otherwise it waits in
  // the pool for the first worker that frees up, and a call queued behind
  // one that turns out long moves to a worker that is free. max(): always
  // queue in workers (up to pipeline_depth), as fast as it gets for calls
  // known to be short.
  std::chrono::microseconds pipeline_threshold = std::chrono::milliseconds(2);

  WorkerPoolOptions& with_name(std::string value) { name = std::move(value); return *this; }
  WorkerPoolOptions& with_max_workers(std::size_t value) { max_workers = value; return *this; }
  WorkerPoolOptions& with_min_workers(std::size_t value) { min_workers = value; return *this; }
  // Any duration type; saturated at fray::never_duration (100 years: never), so
  // hours::max() means never rather than overflowing milliseconds.
  template <class Rep, class Period>
  WorkerPoolOptions& with_idle_timeout(std::chrono::duration<Rep, Period> value) {
    idle_timeout = clamp_duration<std::chrono::milliseconds>(value);
    return *this;
  }
  WorkerPoolOptions& with_max_calls(std::uint64_t value) { max_calls = value; return *this; }
  WorkerPoolOptions& with_pipeline_depth(std::size_t value) { pipeline_depth = value; return *this; }
  WorkerPoolOptions& with_pipeline_threshold(std::chrono::microseconds value) {
    pipeline_threshold = value;
    return *this;
  }
};

}  // namespace fray
