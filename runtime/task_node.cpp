#include "fray/detail/task_node.hpp"

#include <chrono>

namespace fray::detail {

std::exception_ptr cancel_error_for(const StateBase& state, const TaskExtras* extras) {
  switch (state.cancel_reason()) {
    case CancelReason::timeout: {
      const std::string name =
          extras != nullptr && !extras->options.name.empty() ? "'" + extras->options.name + "' " : std::string();
      const auto limit = extras != nullptr && extras->options.timeout
                             ? std::chrono::duration<double, std::milli>(*extras->options.timeout).count()
                             : 0.0;
      return std::make_exception_ptr(
          TaskTimeout(fmt::format("task {}did not finish within its timeout of {} ms", name, limit)));
    }
    case CancelReason::shutdown:
      return std::make_exception_ptr(TaskCancelled("the runtime is shutting down"));
    default:
      return std::make_exception_ptr(TaskCancelled());
  }
}

}  // namespace fray::detail
