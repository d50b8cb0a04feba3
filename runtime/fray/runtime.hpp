// Runtime: fray embedded in a driver program. No daemon, no server, no
// configuration: construct one, take its context, run tasks. Its destructor
// cancels what is pending, waits for what runs, and frees everything.
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
  // Pool threads; 0 means one per core.
  std::size_t threads = 0;
  // Logical capacities for admission; cpu defaults to the core count.
  Resources capacity;

  RuntimeOptions& with_context(ContextKind kind) { context = kind; return *this; }
  RuntimeOptions& with_threads(std::size_t count) { threads = count; return *this; }
  RuntimeOptions& with_capacity(Resources value) { capacity = std::move(value); return *this; }
};

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

 private:
  std::unique_ptr<detail::TaskHost> host_;
  std::unique_ptr<JobContext> context_;
};

}  // namespace fray
