#include "fray/detail/worker_launch.hpp"

#include <fmt/format.h>

#include "fray/detail/worker_script.hpp"
#include "fray/python_errors.hpp"

namespace fray::detail {

std::shared_ptr<const WorkerLaunch> make_worker_launch(const IsolatedVirtualEnv& env,
                                                       const std::map<std::string, std::string>& vars,
                                                       const std::optional<std::filesystem::path>& cwd,
                                                       std::size_t max_frame_bytes,
                                                       std::chrono::milliseconds cancel_grace) {
  if (!env.is_open()) throw Error("the isolated env is closed: it cannot start Python workers");
  if (max_frame_bytes < 64 || max_frame_bytes > 0xFFFFFFF0u) {
    throw InvalidOptions("max_frame_bytes must be between 64 bytes and 4 GiB");
  }
  auto launch = std::make_shared<WorkerLaunch>();
  launch->python = env.python().string();
  launch->script = worker_script_path();
  RunOptions run;
  run.env = vars;
  launch->env = env.child_environment(run);  // validates the names
  // Prints reach the log sink as they happen, not when a buffer fills.
  if (vars.find("PYTHONUNBUFFERED") == vars.end()) launch->env.push_back("PYTHONUNBUFFERED=1");
  if (cwd) {
    std::error_code ec;
    if (!std::filesystem::is_directory(*cwd, ec)) {
      throw InvalidOptions(fmt::format("the workers' working directory {} does not exist", cwd->string()));
    }
    launch->cwd = std::filesystem::absolute(*cwd, ec).string();
  }
  launch->max_frame_bytes = max_frame_bytes;
  launch->cancel_grace = cancel_grace;
  return launch;
}

}  // namespace fray::detail
