#include "fray/job_request.hpp"

#include <cctype>
#include <cmath>

#include <fmt/format.h>

#include "fray/byte_size.hpp"
#include "fray/job_errors.hpp"

namespace fray {

Entrypoint Entrypoint::binary(std::vector<std::string> argv) {
  Entrypoint entry;
  entry.argv_ = std::move(argv);
  return entry;
}

namespace {

std::uint64_t size_or_throw(std::string_view size, std::string_view what) {
  const auto bytes = parse_byte_size(size);
  if (!bytes) throw InvalidJobRequest(fmt::format("{} '{}' is not a size (use bytes, or 512m, 4g, 1.5GiB)", what, size));
  return *bytes;
}

void validate_name(const std::string& name) {
  if (name.empty()) throw InvalidJobRequest("a job needs a name");
  for (unsigned char c : name) {
    if (std::isspace(c) || c == '/' || std::iscntrl(c)) {
      throw InvalidJobRequest(fmt::format("job name '{}' holds whitespace or '/' (names a directory and a Slurm job)", name));
    }
  }
  if (name == "." || name == ".." || name.size() > 100) throw InvalidJobRequest(fmt::format("job name '{}' cannot name a directory", name));
}

void validate_entrypoint(const Entrypoint& entry) {
  if (entry.is_python()) {
    const auto colon = entry.function().find(':');
    if (colon == 0 || colon == std::string::npos || colon + 1 == entry.function().size()) {
      throw InvalidJobRequest(fmt::format("Python entrypoint '{}' is not MODULE:FUNCTION", entry.function()));
    }
    return;
  }
  if (entry.argv().empty() || entry.argv().front().empty()) throw InvalidJobRequest("the job's entrypoint has no command");
  for (const std::string& word : entry.argv()) {
    if (word.find('\0') != std::string::npos) throw InvalidJobRequest("an argument of the job's command holds a NUL byte");
  }
}

}  // namespace

ResourceConfig& ResourceConfig::with_ram(std::string_view size) { return with_ram(size_or_throw(size, "ram")); }
ResourceConfig& ResourceConfig::with_disk(std::string_view size) { return with_disk(size_or_throw(size, "disk")); }

void validate(const JobRequest& request) {
  validate_name(request.name);
  validate_entrypoint(request.entrypoint);
  const ResourceConfig& resources = request.resources;
  if (!(resources.cpu > 0) || !std::isfinite(resources.cpu)) {
    throw InvalidJobRequest(fmt::format("job '{}': cpu must be more than 0 (got {})", request.name, resources.cpu));
  }
  if (const auto* gpu = std::get_if<GpuConfig>(&resources.device); gpu != nullptr && gpu->count < 1) {
    throw InvalidJobRequest(fmt::format("job '{}': a GPU device needs a count of at least 1 (got {})", request.name, gpu->count));
  }
  if (const auto* tpu = std::get_if<TpuConfig>(&resources.device); tpu != nullptr && tpu->type.empty()) {
    throw InvalidJobRequest(fmt::format("job '{}': a TPU device needs a type (v4, v5e...)", request.name));
  }
  if (request.replicas < 1) throw InvalidJobRequest(fmt::format("job '{}': replicas must be at least 1 (got {})", request.name, request.replicas));
  if (request.max_retries_failure < 0 || request.max_retries_preemption < 0) {
    throw InvalidJobRequest(fmt::format("job '{}': retry limits cannot be negative", request.name));
  }
  for (const auto& [key, value] : request.environment.env_vars) {
    if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      throw InvalidJobRequest(fmt::format("job '{}': env var '{}' cannot be passed (empty, '=' or NUL)", request.name, key));
    }
  }
  if (request.environment.working_dir && !request.environment.working_dir->is_absolute()) {
    throw InvalidJobRequest(fmt::format("job '{}': the working directory '{}' must be absolute", request.name,
                                        request.environment.working_dir->string()));
  }
}

}  // namespace fray
