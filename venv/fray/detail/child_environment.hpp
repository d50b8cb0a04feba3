// The environments of child processes, built explicitly: for a process run
// in an env (the inherit policy, then the env's own vars, then the venv's
// own settings) and for the installer (the parent's, so the user's pip
// configuration holds, minus what would redirect or break the install).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fray/venv_options.hpp"

namespace fray::detail {

// A copy of this process's environment, in order.
using EnvList = std::vector<std::pair<std::string, std::string>>;
EnvList snapshot_environ();
// The value of `name` in `env`, or empty.
std::string_view lookup(const EnvList& env, std::string_view name);

// PYTHONHOME, PYTHONSTARTUP, CONDA_*, RAY_*: never passed to an env's processes.
bool never_passed(std::string_view name);
// Throws InvalidOptions for a name that is empty, holds '=', or is never passed.
void check_env_var_names(const std::map<std::string, std::string>& vars, std::string_view where);

// "KEY=VALUE" lines: the policy's share of `parent`, then `env_vars`, then
// `run_vars`, then VIRTUAL_ENV=venv, venv/bin first on PATH,
// PYTHONNOUSERSITE=1. PYTHONPATH only when env_vars or run_vars set it.
std::vector<std::string> compose_child_environment(const EnvList& parent, InheritEnv policy,
                                                   const std::map<std::string, std::string>& env_vars,
                                                   const std::map<std::string, std::string>& run_vars,
                                                   const std::filesystem::path& venv);

// The installer's environment: `parent` without what points Python or pip
// elsewhere (PYTHONHOME, PYTHONPATH, VIRTUAL_ENV, PIP_USER, PIP_TARGET...),
// without `dropped` (the pip/uv settings the options override), with
// PYTHONUNBUFFERED=1 so its output arrives line by line.
std::vector<std::string> installer_environment(const EnvList& parent, const std::vector<std::string>& dropped);

}  // namespace fray::detail
