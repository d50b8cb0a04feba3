// VenvOptions: what an isolated env holds (packages, where they come from,
// the interpreter) and what its processes see (env vars, the inherit
// policy). Everything that changes the env's files is part of its cache key;
// the env vars are not (they belong to the processes, not the files).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fray/duration_limit.hpp"

namespace fray {

// What a child process inherits from this process's environment.
enum class InheritEnv {
  // PATH, HOME, USER, LOGNAME, LANG, LC_*, TZ, TMPDIR, TERM (the default).
  minimal,
  // Everything, except what is never passed (see below).
  all,
  // Nothing.
  none,
};

// Who installs the packages.
enum class Installer {
  // uv when it is on PATH, else pip.
  automatic,
  // The interpreter's own pip, installing with --python into the env.
  pip,
  // uv (fails with InstallerNotFound when it is not on PATH).
  uv,
};

// Called with each line of setup output (fray's own steps and the
// installer's output), from the building thread or fray's process thread,
// never from two at once: do not block in it.
using SetupProgress = std::function<void(std::string_view line)>;

// Why an isolated env refuses `name` as one of its variables (VenvOptions::env,
// RunOptions::env): "" when it takes it. Setting a refused one throws InvalidOptions.
std::string env_var_name_problem(std::string_view name);

struct VenvOptions {
  // Requirement strings (PEP 508: "numpy>=1.26", "pkg[extra]==1.0; python_version>='3.8'",
  // a URL with "name @ url", or the path of a local wheel or sdist).
  std::vector<std::string> packages;
  // A requirements file (pip's format: requirements, -r, -c, index options).
  std::optional<std::filesystem::path> requirements_file;
  // Directories (or files, or URLs) to find distributions in; the names and
  // content hashes of the local ones are part of the key.
  std::vector<std::string> find_links;
  std::optional<std::string> index_url;
  std::vector<std::string> extra_index_urls;
  bool no_index = false;
  // A name looked up on PATH, or a path.
  std::string python = "python3";
  bool system_site_packages = false;
  Installer installer = Installer::automatic;

  // The env's own variables: they win over the inherited ones. PYTHONHOME,
  // PYTHONSTARTUP, CONDA_* and RAY_* are never passed (setting them here
  // throws InvalidOptions); PYTHONPATH only when set here.
  std::map<std::string, std::string> env;
  InheritEnv inherit_env = InheritEnv::minimal;

  // Where envs are cached; unset: FRAY_CACHE_DIR, else $XDG_CACHE_HOME/fray,
  // else ~/.cache/fray.
  std::optional<std::filesystem::path> cache_dir;
  // The whole build (venv + install) must finish within this; the
  // installer's process group is killed when it does not.
  std::chrono::milliseconds setup_timeout = std::chrono::seconds(600);
  SetupProgress on_progress;
  // Opens the env built under this key (IsolatedVirtualEnv::key()) in the
  // cache, and never builds: the package and index options are not needed
  // (nor read), so a process on another machine sharing the cache opens it
  // without the index credentials it was built with. The interpreter and
  // the variables still come from these options. Throws EnvNotBuilt when
  // that env is not complete.
  std::optional<std::string> built_key;

  VenvOptions& with_package(std::string requirement) { packages.push_back(std::move(requirement)); return *this; }
  VenvOptions& with_packages(std::vector<std::string> requirements) {
    packages.insert(packages.end(), std::make_move_iterator(requirements.begin()), std::make_move_iterator(requirements.end()));
    return *this;
  }
  VenvOptions& with_requirements_file(std::filesystem::path file) { requirements_file = std::move(file); return *this; }
  VenvOptions& with_find_links(std::string dir_or_url) { find_links.push_back(std::move(dir_or_url)); return *this; }
  VenvOptions& with_index_url(std::string url) { index_url = std::move(url); return *this; }
  VenvOptions& with_extra_index_url(std::string url) { extra_index_urls.push_back(std::move(url)); return *this; }
  VenvOptions& with_no_index(bool value = true) { no_index = value; return *this; }
  VenvOptions& with_python(std::string name_or_path) { python = std::move(name_or_path); return *this; }
  VenvOptions& with_system_site_packages(bool value = true) { system_site_packages = value; return *this; }
  VenvOptions& with_installer(Installer value) { installer = value; return *this; }
  VenvOptions& with_env(std::string key, std::string value) { env[std::move(key)] = std::move(value); return *this; }
  VenvOptions& with_env(std::map<std::string, std::string> vars) {
    for (auto& [key, value] : vars) env[key] = std::move(value);
    return *this;
  }
  VenvOptions& with_inherit_env(InheritEnv policy) { inherit_env = policy; return *this; }
  VenvOptions& with_cache_dir(std::filesystem::path dir) { cache_dir = std::move(dir); return *this; }
  // Any duration type; saturated at fray::never_duration (100 years: never), so
  // hours::max() means never rather than overflowing milliseconds.
  template <class Rep, class Period>
  VenvOptions& with_setup_timeout(std::chrono::duration<Rep, Period> value) {
    setup_timeout = clamp_duration<std::chrono::milliseconds>(value);
    return *this;
  }
  VenvOptions& with_progress(SetupProgress callback) { on_progress = std::move(callback); return *this; }
  VenvOptions& with_built_key(std::string key) { built_key = std::move(key); return *this; }
};

}  // namespace fray
