#include "fray/runtime.hpp"

#include <cstdlib>
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

Resources with_default_cpu(Resources capacity) {
  if (capacity.get("cpu") == 0) capacity.cpu(static_cast<double>(core_count()));
  return capacity;
}

}  // namespace

Runtime::Runtime() : Runtime(RuntimeOptions{}) {}

Runtime::Runtime(RuntimeOptions options) {
  const ContextKind kind = options.context.value_or(default_context_kind());
  const std::size_t threads = options.threads == 0 ? core_count() : options.threads;
  // The context refers to the host and the host's threads to the context:
  // the host comes first, and its threads read the context when they run.
  detail::HostOptions host;
  host.inline_context = kind == ContextKind::sync;
  host.pool.threads = threads;
  host.pool.max_extra_threads = options.max_extra_threads;
  host.capacity = with_default_cpu(std::move(options.capacity));
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
