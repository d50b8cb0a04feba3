#include "fray/detail/job_json.hpp"

#include <boost/json.hpp>

#include <cmath>

#include <fmt/format.h>

#include "fray/detail/url_redaction.hpp"
#include "fray/python_json.hpp"
#include "fray/job_errors.hpp"

namespace fray::detail {

namespace json = boost::json;

std::string json_text(const json::value& value) {
  if (value.is_double()) {
    const double number = value.get_double();
    if (!std::isfinite(number)) return json::serialize(value);
    std::string text = fmt::format("{}", number);
    if (text.find_first_of(".e") == std::string::npos) text += ".0";
    return text;
  }
  if (value.is_array()) {
    std::string text = "[";
    for (const json::value& item : value.get_array()) text += (text.size() > 1 ? ", " : "") + json_text(item);
    return text + "]";
  }
  if (value.is_object()) {
    std::string text = "{";
    for (const auto& [key, item] : value.get_object()) {
      text += (text.size() > 1 ? ", " : "") + json::serialize(json::value(key)) + ": " + json_text(item);
    }
    return text + "}";
  }
  return json::serialize(value);
}

namespace {

json::array strings(const std::vector<std::string>& values, bool redact = false) {
  json::array out;
  for (const std::string& value : values) out.emplace_back(redact ? redact_url(value) : value);
  return out;
}

json::object string_map(const std::map<std::string, std::string>& values) {
  json::object out;
  for (const auto& [key, value] : values) out[key] = value;
  return out;
}

std::vector<std::string> strings_from(const json::value* value) {
  std::vector<std::string> out;
  if (value == nullptr) return out;
  for (const json::value& item : value->as_array()) out.emplace_back(item.as_string());
  return out;
}

std::map<std::string, std::string> map_from(const json::value* value) {
  std::map<std::string, std::string> out;
  if (value == nullptr) return out;
  for (const auto& [key, item] : value->as_object()) out[std::string(key)] = std::string(item.as_string());
  return out;
}

std::string string_or(const json::object& object, std::string_view key, std::string fallback = {}) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : fallback;
}

json::value venv_to_json(const VenvOptions& venv, bool redact) {
  json::object out;
  out["packages"] = strings(venv.packages, redact);
  if (venv.requirements_file) out["requirements_file"] = venv.requirements_file->string();
  out["find_links"] = strings(venv.find_links, redact);
  if (venv.index_url) out["index_url"] = redact ? redact_url(*venv.index_url) : *venv.index_url;
  out["extra_index_urls"] = strings(venv.extra_index_urls, redact);
  out["no_index"] = venv.no_index;
  out["python"] = venv.python;
  out["system_site_packages"] = venv.system_site_packages;
  out["installer"] = venv.installer == Installer::pip ? "pip" : venv.installer == Installer::uv ? "uv" : "automatic";
  out["env"] = string_map(venv.env);
  out["inherit_env"] = venv.inherit_env == InheritEnv::all ? "all" : venv.inherit_env == InheritEnv::none ? "none" : "minimal";
  if (venv.cache_dir) out["cache_dir"] = venv.cache_dir->string();
  out["setup_timeout_ms"] = venv.setup_timeout.count();
  if (venv.built_key) out["built_key"] = *venv.built_key;
  return out;
}

VenvOptions venv_from_json(const json::object& in) {
  VenvOptions venv;
  venv.packages = strings_from(in.if_contains("packages"));
  if (auto* file = in.if_contains("requirements_file")) venv.requirements_file = std::string(file->as_string());
  venv.find_links = strings_from(in.if_contains("find_links"));
  if (auto* url = in.if_contains("index_url")) venv.index_url = std::string(url->as_string());
  venv.extra_index_urls = strings_from(in.if_contains("extra_index_urls"));
  venv.no_index = in.at("no_index").as_bool();
  venv.python = string_or(in, "python", "python3");
  venv.system_site_packages = in.at("system_site_packages").as_bool();
  const std::string installer = string_or(in, "installer", "automatic");
  venv.installer = installer == "pip" ? Installer::pip : installer == "uv" ? Installer::uv : Installer::automatic;
  venv.env = map_from(in.if_contains("env"));
  const std::string inherit = string_or(in, "inherit_env", "minimal");
  venv.inherit_env = inherit == "all" ? InheritEnv::all : inherit == "none" ? InheritEnv::none : InheritEnv::minimal;
  if (auto* dir = in.if_contains("cache_dir")) venv.cache_dir = std::string(dir->as_string());
  venv.setup_timeout = std::chrono::milliseconds(in.at("setup_timeout_ms").to_number<std::int64_t>());
  if (auto* key = in.if_contains("built_key")) venv.built_key = std::string(key->as_string());
  return venv;
}

json::value device_to_json(const DeviceConfig& device) {
  json::object out;
  if (const auto* gpu = std::get_if<GpuConfig>(&device)) {
    out["kind"] = "gpu";
    out["type"] = gpu->type;
    out["count"] = gpu->count;
  } else if (const auto* tpu = std::get_if<TpuConfig>(&device)) {
    out["kind"] = "tpu";
    out["type"] = tpu->type;
    out["topology"] = tpu->topology;
  } else {
    out["kind"] = "cpu";
  }
  return out;
}

DeviceConfig device_from_json(const json::object& in) {
  const std::string kind = string_or(in, "kind", "cpu");
  if (kind == "gpu") return GpuConfig{string_or(in, "type"), static_cast<int>(in.at("count").to_number<std::int64_t>())};
  if (kind == "tpu") return TpuConfig{string_or(in, "type"), string_or(in, "topology")};
  return CpuConfig{};
}

std::int64_t to_ms(JobClock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

std::optional<JobClock::time_point> time_from(const json::object& in, std::string_view key) {
  const json::value* value = in.if_contains(key);
  if (value == nullptr || value->is_null()) return std::nullopt;
  return JobClock::time_point(std::chrono::milliseconds(value->to_number<std::int64_t>()));
}

}  // namespace

json::value request_to_json(const JobRequest& request, bool redact) {
  json::object out;
  out["name"] = request.name;
  json::object entry;
  if (request.entrypoint.is_python()) {
    entry["function"] = request.entrypoint.function();
    entry["args"] = request.entrypoint.args();
    entry["kwargs"] = request.entrypoint.kwargs();
  } else {
    entry["argv"] = strings(request.entrypoint.argv());
  }
  out["entrypoint"] = std::move(entry);
  const ResourceConfig& resources = request.resources;
  out["resources"] = {{"cpu", resources.cpu}, {"ram", resources.ram}, {"disk", resources.disk},
                      {"device", device_to_json(resources.device)}, {"preemptible", resources.preemptible}};
  json::object environment;
  if (request.environment.venv) environment["venv"] = venv_to_json(*request.environment.venv, redact);
  environment["env_vars"] = string_map(request.environment.env_vars);
  if (request.environment.working_dir) environment["working_dir"] = request.environment.working_dir->string();
  out["environment"] = std::move(environment);
  out["replicas"] = request.replicas;
  out["max_retries_failure"] = request.max_retries_failure;
  out["max_retries_preemption"] = request.max_retries_preemption;
  return out;
}

JobRequest request_from_json(const json::value& value) {
  try {
    const json::object& in = value.as_object();
    JobRequest request;
    request.name = std::string(in.at("name").as_string());
    const json::object& entry = in.at("entrypoint").as_object();
    if (const json::value* function = entry.if_contains("function")) {
      json::array args = entry.at("args").as_array();
      json::object kwargs = entry.at("kwargs").as_object();
      request.entrypoint = Entrypoint::python_with(std::string(function->as_string()), std::move(args), std::move(kwargs));
    } else {
      request.entrypoint = Entrypoint::binary(strings_from(entry.if_contains("argv")));
    }
    const json::object& resources = in.at("resources").as_object();
    request.resources.cpu = resources.at("cpu").to_number<double>();
    request.resources.ram = resources.at("ram").to_number<std::uint64_t>();
    request.resources.disk = resources.at("disk").to_number<std::uint64_t>();
    request.resources.device = device_from_json(resources.at("device").as_object());
    request.resources.preemptible = resources.at("preemptible").as_bool();
    const json::object& environment = in.at("environment").as_object();
    if (const json::value* venv = environment.if_contains("venv")) request.environment.venv = venv_from_json(venv->as_object());
    request.environment.env_vars = map_from(environment.if_contains("env_vars"));
    if (const json::value* dir = environment.if_contains("working_dir")) request.environment.working_dir = std::string(dir->as_string());
    request.replicas = static_cast<int>(in.at("replicas").to_number<std::int64_t>());
    request.max_retries_failure = static_cast<int>(in.at("max_retries_failure").to_number<std::int64_t>());
    request.max_retries_preemption = static_cast<int>(in.at("max_retries_preemption").to_number<std::int64_t>());
    return request;
  } catch (const JobError&) {
    throw;
  } catch (const std::exception& e) {
    throw InvalidJobRequest(fmt::format("not a job request: {}", e.what()));
  }
}

json::value info_to_json(const JobInfo& info) {
  json::object out;
  out["id"] = info.id;
  out["name"] = info.name;
  out["status"] = to_string(info.status);
  json::array replicas;
  for (const ReplicaInfo& replica : info.replicas) {
    json::object r;
    r["index"] = replica.index;
    r["status"] = to_string(replica.status);
    r["exit_code"] = replica.exit_code ? json::value(*replica.exit_code) : json::value(nullptr);
    r["signal"] = replica.signal;
    r["error"] = replica.error;
    if (replica.result) r["result"] = *replica.result;
    replicas.push_back(std::move(r));
  }
  out["replicas"] = std::move(replicas);
  out["error"] = info.error;
  out["attempt"] = info.attempt;
  out["submitted_ms"] = info.submitted ? json::value(to_ms(*info.submitted)) : json::value(nullptr);
  out["started_ms"] = info.started ? json::value(to_ms(*info.started)) : json::value(nullptr);
  out["ended_ms"] = info.ended ? json::value(to_ms(*info.ended)) : json::value(nullptr);
  out["native_id"] = info.native_id;
  return out;
}

JobInfo info_from_json(const json::value& value) {
  const json::object& in = value.as_object();
  JobInfo info;
  info.id = string_or(in, "id");
  info.name = string_or(in, "name");
  const auto status = job_status_from(string_or(in, "status"));
  if (!status) throw std::runtime_error("status.json has no known status");
  info.status = *status;
  for (const json::value& item : in.at("replicas").as_array()) {
    const json::object& r = item.as_object();
    ReplicaInfo replica;
    replica.index = static_cast<int>(r.at("index").to_number<std::int64_t>());
    replica.status = job_status_from(string_or(r, "status")).value_or(JobStatus::failed);
    if (const json::value* code = r.if_contains("exit_code"); code != nullptr && !code->is_null()) {
      replica.exit_code = static_cast<int>(code->to_number<std::int64_t>());
    }
    replica.signal = static_cast<int>(r.at("signal").to_number<std::int64_t>());
    replica.error = string_or(r, "error");
    if (const json::value* result = r.if_contains("result")) replica.result = std::string(result->as_string());
    info.replicas.push_back(std::move(replica));
  }
  info.error = string_or(in, "error");
  info.attempt = static_cast<int>(in.at("attempt").to_number<std::int64_t>());
  info.submitted = time_from(in, "submitted_ms");
  info.started = time_from(in, "started_ms");
  info.ended = time_from(in, "ended_ms");
  info.native_id = string_or(in, "native_id");
  return info;
}

namespace {
boost::json::parse_options job_json_options() {
  boost::json::parse_options options;
  options.max_depth = max_python_json_depth + 16;  // the request's own levels around the arguments
  return options;
}
}  // namespace

boost::json::value parse_job_json(std::string_view text) { return boost::json::parse(text, {}, job_json_options()); }

boost::json::value parse_job_json(std::string_view text, boost::system::error_code& error) {
  return boost::json::parse(text, error, {}, job_json_options());
}

}  // namespace fray::detail
