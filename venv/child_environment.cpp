#include "fray/detail/child_environment.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "fray/errors.hpp"

extern char** environ;

namespace fray::detail {

namespace {

constexpr std::array<std::string_view, 8> kMinimal = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "TERM"};

bool in_minimal(std::string_view name) {
  return std::find(kMinimal.begin(), kMinimal.end(), name) != kMinimal.end() || name.starts_with("LC_");
}

// Where no PATH is inherited: the POSIX default, so sh and friends are found.
std::string default_path() {
  const std::size_t size = ::confstr(_CS_PATH, nullptr, 0);
  if (size == 0) return "/usr/bin:/bin";
  std::string path(size, '\0');
  ::confstr(_CS_PATH, path.data(), size);
  path.resize(size - 1);
  return path;
}

void set(EnvList& env, std::string_view name, std::string value) {
  for (auto& entry : env) {
    if (entry.first == name) {
      entry.second = std::move(value);
      return;
    }
  }
  env.emplace_back(std::string(name), std::move(value));
}

std::vector<std::string> lines_of(const EnvList& env) {
  std::vector<std::string> lines;
  lines.reserve(env.size());
  for (const auto& [name, value] : env) lines.push_back(name + "=" + value);
  return lines;
}

}  // namespace

EnvList snapshot_environ() {
  EnvList env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    const auto equals = text.find('=');
    if (equals == std::string_view::npos || equals == 0) continue;
    env.emplace_back(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
  }
  return env;
}

std::string_view lookup(const EnvList& env, std::string_view name) {
  for (const auto& entry : env) {
    if (entry.first == name) return entry.second;
  }
  return {};
}

bool never_passed(std::string_view name) {
  return name == "PYTHONHOME" || name == "PYTHONSTARTUP" || name.starts_with("CONDA_") || name.starts_with("RAY_");
}

void check_env_var_names(const std::map<std::string, std::string>& vars, std::string_view where) {
  for (const auto& [name, value] : vars) {
    if (const std::string problem = env_var_name_problem(name); !problem.empty()) {
      throw InvalidOptions(std::string(where) + ": " + problem);
    }
  }
}

std::vector<std::string> compose_child_environment(const EnvList& parent, InheritEnv policy,
                                                   const std::map<std::string, std::string>& env_vars,
                                                   const std::map<std::string, std::string>& run_vars,
                                                   const std::filesystem::path& venv) {
  EnvList env;
  if (policy != InheritEnv::none) {
    for (const auto& [name, value] : parent) {
      if (never_passed(name) || name == "PYTHONPATH" || name == "VIRTUAL_ENV" || name == "PYTHONNOUSERSITE") continue;
      if (policy == InheritEnv::minimal && !in_minimal(name)) continue;
      env.emplace_back(name, value);
    }
  }
  for (const auto& [name, value] : env_vars) set(env, name, value);
  for (const auto& [name, value] : run_vars) set(env, name, value);
  const std::string bin = (venv / "bin").string();
  std::string path(lookup(env, "PATH"));
  set(env, "PATH", path.empty() ? bin + ":" + default_path() : bin + ":" + path);
  set(env, "VIRTUAL_ENV", venv.string());
  set(env, "PYTHONNOUSERSITE", "1");
  return lines_of(env);
}

std::vector<std::string> installer_environment(const EnvList& parent, const std::vector<std::string>& dropped) {
  EnvList env;
  static constexpr std::array<std::string_view, 13> kRedirecting = {
      "PYTHONHOME",  "PYTHONPATH", "PYTHONSTARTUP",          "VIRTUAL_ENV", "PIP_USER",
      "PIP_TARGET",  "PIP_PREFIX", "PIP_ROOT",               "PIP_PYTHON",  "PIP_REQUIRE_VIRTUALENV",
      "UV_PYTHON",   "UV_SYSTEM_PYTHON", "PYTHONNOUSERSITE"};
  for (const auto& [name, value] : parent) {
    if (std::find(kRedirecting.begin(), kRedirecting.end(), name) != kRedirecting.end()) continue;
    if (std::find(dropped.begin(), dropped.end(), name) != dropped.end()) continue;
    if (name.starts_with("CONDA_")) continue;
    env.emplace_back(name, value);
  }
  set(env, "PYTHONUNBUFFERED", "1");
  if (lookup(env, "PATH").empty()) set(env, "PATH", default_path());
  return lines_of(env);
}

}  // namespace fray::detail

namespace fray {

std::string env_var_name_problem(std::string_view name) {
  if (name.empty() || name.find('=') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return fmt::format("'{}' is not a valid environment variable name", name);
  }
  if (detail::never_passed(name)) {
    return std::string(name) + " is never passed to an isolated env (PYTHONHOME, PYTHONSTARTUP, CONDA_*, RAY_*)";
  }
  return {};
}

}  // namespace fray
