#include "fray/detail/worker_launch.hpp"

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "fray/detail/frame_length.hpp"
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

std::string encode_request(char kind, std::string_view target, PackedArgs&& args, std::size_t max_frame_bytes) {
  boost::json::object request;
  request[std::string_view(&kind, 1)] = target;
  request["a"] = std::move(args.args);
  if (!args.kwargs.empty()) request["k"] = std::move(args.kwargs);
  std::string json = boost::json::serialize(request);
  if (json.size() > max_frame_bytes) {
    throw FrameTooLarge(fmt::format("the call of {} is {} bytes of JSON, over the frame size limit of {} bytes", target,
                                    json.size(), max_frame_bytes));
  }
  std::string frame(4, '\0');
  write_frame_length(frame.data(), std::uint32_t(json.size()));
  frame += json;
  return frame;
}

}  // namespace fray::detail
