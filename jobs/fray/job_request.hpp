// JobRequest: what to run as a job (Python Fray's JobRequest, Ray Jobs'
// submit_job): an entrypoint, the resources each replica gets, an
// environment, how many replicas, and how often to retry.
//
//   fray::JobRequest request{.name = "train",
//                            .entrypoint = fray::Entrypoint::binary({"python", "train.py"}),
//                            .resources = fray::ResourceConfig{}.with_cpu(4).with_ram("16g"),
//                            .replicas = 2};
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <fray/venv_options.hpp>

namespace fray {

// A keyword argument of a Python entrypoint: kw("num", 5).
struct PythonKeyword {
  std::string name;
  boost::json::value value;
};
inline PythonKeyword kw(std::string name, boost::json::value value) { return {std::move(name), std::move(value)}; }

class Entrypoint {
 public:
  // A command line; argv[0] is looked up on the replica's PATH (the env's
  // bin first when the job has an env).
  static Entrypoint binary(std::vector<std::string> argv);
  // "package.module:function" called in the job's env by a fray Python
  // worker (as `fray call` does), with JSON arguments; each replica's result
  // is kept with the job (JobInfo::replicas[i].result).
  template <class... Args>
  static Entrypoint python(std::string function, Args&&... args) {
    Entrypoint entry;
    entry.function_ = std::move(function);
    (entry.add_argument(std::forward<Args>(args)), ...);
    return entry;
  }

  // The same from arguments already in JSON.
  static Entrypoint python_with(std::string function, boost::json::array args, boost::json::object kwargs) {
    Entrypoint entry;
    entry.function_ = std::move(function);
    entry.args_ = std::move(args);
    entry.kwargs_ = std::move(kwargs);
    return entry;
  }

  bool is_python() const noexcept { return !function_.empty(); }
  const std::vector<std::string>& argv() const noexcept { return argv_; }
  const std::string& function() const noexcept { return function_; }
  const boost::json::array& args() const noexcept { return args_; }
  const boost::json::object& kwargs() const noexcept { return kwargs_; }

 private:
  void add_argument(PythonKeyword keyword) { kwargs_[keyword.name] = std::move(keyword.value); }
  template <class T>
  void add_argument(T&& value) { args_.push_back(boost::json::value_from(std::forward<T>(value))); }

  std::vector<std::string> argv_;
  std::string function_;
  boost::json::array args_;
  boost::json::object kwargs_;
};

struct CpuConfig {};
struct GpuConfig {
  std::string type;  // "H100", "A100"...; empty: any
  int count = 1;
};
struct TpuConfig {
  std::string type;      // "v5e", "v4"...
  std::string topology;  // "2x2", "4x4"...
};
using DeviceConfig = std::variant<CpuConfig, GpuConfig, TpuConfig>;

// What each replica gets.
struct ResourceConfig {
  double cpu = 1;              // cores, fractional allowed
  std::uint64_t ram = 0;       // bytes; 0: no limit asked
  std::uint64_t disk = 0;      // bytes; 0: none asked
  DeviceConfig device = CpuConfig{};
  // False for a pipeline's controller: never preempted (Slurm: the spec's
  // nonpreemptible_qos).
  bool preemptible = true;

  ResourceConfig& with_cpu(double cores) { cpu = cores; return *this; }
  ResourceConfig& with_ram(std::uint64_t bytes) { ram = bytes; return *this; }
  // "512m", "4g", "1.5GiB" or bytes; throws InvalidJobRequest on anything else.
  ResourceConfig& with_ram(std::string_view size);
  ResourceConfig& with_disk(std::uint64_t bytes) { disk = bytes; return *this; }
  ResourceConfig& with_disk(std::string_view size);
  ResourceConfig& with_gpu(int count, std::string type = {}) { device = GpuConfig{std::move(type), count}; return *this; }
  ResourceConfig& with_tpu(std::string type, std::string topology = {}) {
    device = TpuConfig{std::move(type), std::move(topology)};
    return *this;
  }
  ResourceConfig& with_preemptible(bool value) { preemptible = value; return *this; }

  int gpu_count() const noexcept {
    const auto* gpu = std::get_if<GpuConfig>(&device);
    return gpu == nullptr ? 0 : gpu->count;
  }
};

// Where and how the replicas run. Nothing set: as they are, with this
// process's environment, in this process's working directory.
struct EnvironmentConfig {
  // An isolated env (packages, index options, interpreter: see VenvOptions)
  // built before the job is admitted; the replicas run in it.
  std::optional<VenvOptions> venv;
  // Set for every replica (they win over the env's and the inherited ones).
  std::map<std::string, std::string> env_vars;
  // The replicas' working directory; unset: the submitter's.
  std::optional<std::filesystem::path> working_dir;

  EnvironmentConfig& with_venv(VenvOptions options) { venv = std::move(options); return *this; }
  EnvironmentConfig& with_env_var(std::string key, std::string value) { env_vars[std::move(key)] = std::move(value); return *this; }
  EnvironmentConfig& with_working_dir(std::filesystem::path dir) { working_dir = std::move(dir); return *this; }
};

struct JobRequest {
  // Non-empty, no whitespace, no '/': it names the job's directory and its
  // Slurm job.
  std::string name;
  Entrypoint entrypoint;
  ResourceConfig resources;
  EnvironmentConfig environment;
  int replicas = 1;
  // Attempts after a failure (a replica exiting non-zero or killed).
  int max_retries_failure = 0;
  // Attempts after a preemption (Slurm: PREEMPTED, NODE_FAIL, BOOT_FAIL).
  int max_retries_preemption = 100;
};

// Throws InvalidJobRequest naming what is wrong (a bad name, no command,
// replicas < 1, cpu <= 0, negative retries, a GPU count < 1).
void validate(const JobRequest& request);

}  // namespace fray
