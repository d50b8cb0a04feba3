#include "fray/runtime.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <thread>

#include <fmt/format.h>

namespace fray {

ContextKind default_context_kind() {
  const char* value = std::getenv("FRAY_CONTEXT");
  if (value == nullptr || *value == '\0') return ContextKind::threads;
  const std::string_view kind(value);
  if (kind == "sync") return ContextKind::sync;
  if (kind == "threads" || kind == "threadpool") return ContextKind::threads;
  throw InvalidOptions(fmt::format("FRAY_CONTEXT={} is not a context fray knows (use sync or threads)", kind));
}

namespace {

std::size_t core_count() { return std::max(1u, std::thread::hardware_concurrency()); }

// A positive number in the variable, else nullopt.
std::optional<double> number_in(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || !(value > 0) || !std::isfinite(value)) return std::nullopt;
  return value;
}

// CUDA_VISIBLE_DEVICES=0,1,3 → 3; unset or empty → nullopt.
std::optional<double> visible_gpus() {
  const char* text = std::getenv("CUDA_VISIBLE_DEVICES");
  if (text == nullptr || *text == '\0') return std::nullopt;
  const std::string_view list(text);
  return static_cast<double>(std::count(list.begin(), list.end(), ',') + 1);
}

}  // namespace

Resources job_allocation() {
  Resources allocation;
  if (auto cpu = number_in("FRAY_JOB_CPU")) {
    allocation.cpu(*cpu);
  } else if (auto slurm_cpu = number_in("SLURM_CPUS_PER_TASK")) {
    allocation.cpu(*slurm_cpu);
  } else {
    allocation.cpu(static_cast<double>(core_count()));
  }
  if (auto gpu = number_in("FRAY_JOB_GPU")) {
    allocation.gpu(*gpu);
  } else if (auto slurm_gpu = number_in("SLURM_GPUS_ON_NODE")) {
    allocation.gpu(*slurm_gpu);
  } else if (auto cuda = visible_gpus()) {
    allocation.gpu(*cuda);
  }
  if (auto ram = number_in("FRAY_JOB_RAM")) {
    allocation.memory(*ram);
  } else if (auto slurm_mb = number_in("SLURM_MEM_PER_NODE")) {
    allocation.memory(*slurm_mb * 1024 * 1024);
  }
  return allocation;
}

namespace {

// What the options leave unset comes from the job's allocation.
Resources with_default_capacity(Resources capacity) {
  const Resources allocation = job_allocation();
  for (const char* name : {"cpu", "gpu", "memory"}) {
    if (capacity.get(name) == 0 && allocation.get(name) > 0) capacity.set(name, allocation.get(name));
  }
  return capacity;
}

std::size_t default_threads() {
  return static_cast<std::size_t>(std::max(1.0, std::ceil(job_allocation().get("cpu"))));
}

}  // namespace

Runtime::Runtime() : Runtime(RuntimeOptions{}) {}

Runtime::Runtime(RuntimeOptions options) {
  const ContextKind kind = options.context.value_or(default_context_kind());
  const std::size_t threads = options.threads == 0 ? default_threads() : options.threads;
  // The context refers to the host and the host's threads to the context:
  // the host comes first, and its threads read the context when they run.
  detail::HostOptions host;
  host.inline_context = kind == ContextKind::sync;
  host.pool.threads = threads;
  host.pool.max_extra_threads = options.max_extra_threads;
  host.capacity = with_default_capacity(std::move(options.capacity));
  host_ = std::make_unique<detail::TaskHost>(std::move(host));
  context_ = std::make_unique<JobContext>(*host_);
  host_->start(context_.get());
  detail::push_default_context(context_.get());
}

Runtime::~Runtime() { shutdown(); }

void Runtime::shutdown() noexcept {
  detail::remove_default_context(context_.get());
  host_->shutdown();
}

JobContext& current_context() {
  if (JobContext* context = detail::thread_context()) return *context;
  if (JobContext* context = detail::default_context()) return *context;
  throw NoContext();
}

namespace this_task {
bool cancel_requested() noexcept { return detail::current_task_cancelled(); }
void throw_if_cancelled() {
  if (cancel_requested()) throw TaskCancelled();
}
}  // namespace this_task

}  // namespace fray
