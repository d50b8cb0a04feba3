// WorkerPoolOptions: how many Python workers a pool keeps and for how long.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "fray/worker_process_options.hpp"

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

  WorkerPoolOptions& with_name(std::string value) { name = std::move(value); return *this; }
  WorkerPoolOptions& with_max_workers(std::size_t value) { max_workers = value; return *this; }
  WorkerPoolOptions& with_min_workers(std::size_t value) { min_workers = value; return *this; }
  WorkerPoolOptions& with_idle_timeout(std::chrono::milliseconds value) { idle_timeout = value; return *this; }
  WorkerPoolOptions& with_max_calls(std::uint64_t value) { max_calls = value; return *this; }
  WorkerPoolOptions& with_pipeline_depth(std::size_t value) { pipeline_depth = value; return *this; }
};

}  // namespace fray
