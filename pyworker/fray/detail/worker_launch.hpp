// Turning an env and worker options into what a worker is started with.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "fray/detail/worker_process.hpp"
#include "fray/detail/worker_protocol.hpp"
#include "fray/isolated_virtual_env.hpp"
#include "fray/python_args.hpp"

namespace fray::detail {

// Throws InvalidOptions (bad env var names, a missing cwd), WorkerProgramNotFound,
// or Error when the env is closed.
std::shared_ptr<const WorkerLaunch> make_worker_launch(const IsolatedVirtualEnv& env,
                                                       const std::map<std::string, std::string>& vars,
                                                       const std::optional<std::filesystem::path>& cwd,
                                                       std::size_t max_frame_bytes,
                                                       std::chrono::milliseconds cancel_grace);

// A future that failed already.
template <class R>
Future<R> failed_call(std::exception_ptr error) {
  auto* state = new SharedState<R>(1);
  state->complete_with_error(std::move(error));
  return Future<R>(state);
}

}  // namespace fray::detail
