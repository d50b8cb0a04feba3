// Runtime: fray embedded in a driver program. No daemon, no server, no
// configuration: construct one, take its context, run tasks. Its destructor
// shuts it down (see shutdown()) and frees everything.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>

#include "fray/job_context.hpp"
#include "fray/resources.hpp"

namespace fray {

struct RuntimeOptions {
  // Which context; unset means FRAY_CONTEXT=sync|threads, else threads.
  std::optional<ContextKind> context;
  // Pool threads; 0 means one per cpu of the job's allocation (see
  // job_allocation()), rounded up.
  std::size_t threads = 0;
  // Logical capacities for admission. What is not set comes from the job's
  // allocation: cpu always, gpu and memory when the allocation has them.
  Resources capacity;
  // Threads the pool may start beyond `threads` to stand in for tasks
  // blocked in get/wait. Past that, a blocking call that would leave no
  // thread to run tasks throws TooManyBlockedTasks instead of hanging.
  std::size_t max_extra_threads = 256;

  RuntimeOptions& with_context(ContextKind kind) { context = kind; return *this; }
  RuntimeOptions& with_threads(std::size_t count) { threads = count; return *this; }
  RuntimeOptions& with_capacity(Resources value) { capacity = std::move(value); return *this; }
  RuntimeOptions& with_max_extra_threads(std::size_t count) { max_extra_threads = count; return *this; }
};

// What this process may use, so that tasks respect the job's share rather
// than the machine's: inside a fray job, FRAY_JOB_CPU, FRAY_JOB_GPU and
// FRAY_JOB_RAM (bytes); inside a Slurm job, SLURM_CPUS_PER_TASK,
// SLURM_GPUS_ON_NODE (else the count of CUDA_VISIBLE_DEVICES) and
// SLURM_MEM_PER_NODE (MB); else the core count (and the CUDA_VISIBLE_DEVICES
// count). A Runtime built with default options takes its capacity from it.
Resources job_allocation();

// The context FRAY_CONTEXT asks for (threads when unset); throws
// InvalidOptions on a value it does not know.
ContextKind default_context_kind();

class Runtime {
 public:
  Runtime();
  explicit Runtime(RuntimeOptions options);
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime();

  JobContext& context() noexcept { return *context_; }
  // ray.shutdown(): what has not started is cancelled, suspended and
  // blocked tasks are cancelled, what runs is waited for. Afterwards run()
  // gives futures that fail with TaskCancelled. The destructor does it too.
  void shutdown() noexcept;

 private:
  std::unique_ptr<detail::TaskHost> host_;
  std::unique_ptr<JobContext> context_;
};

}  // namespace fray
