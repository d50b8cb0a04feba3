#include "fray/detail/worker_launch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "fray/detail/worker_script.hpp"
#include "fray/python_errors.hpp"

namespace fray::detail {

namespace {

bool is_module_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

}  // namespace

// The interpreter's command line up to the worker's own arguments. The
// worker is imported rather than run as a script, so Python caches its
// bytecode (a script is compiled at every start); its directory leaves
// sys.path before user code runs. A script whose name is no module name
// (FRAY_WORKER_SCRIPT=...) is run as a script.
std::vector<std::string> worker_command(const std::string& python, const std::string& script_path) {
  const std::filesystem::path script(script_path);
  const std::string module = script.stem().string();
  if (script.extension() != ".py" || !is_module_name(module)) return {python, script_path};
  return {python, "-c",
          fmt::format("import sys; sys.path.insert(0, sys.argv.pop(1)); import {0}; del sys.path[0]; {0}.start()",
                      module),
          script.parent_path().string()};
}


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
