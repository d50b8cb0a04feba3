// Building an env into the cache: a bare venv (python -m venv --without-pip,
// or uv venv), the packages installed into it with the host's pip (--python)
// or uv, the absolute paths of the temporary directory rewritten, metadata,
// the completion marker written last, and an atomic rename into envs/.
#pragma once

#include "fray/detail/child_environment.hpp"
#include "fray/detail/env_spec.hpp"
#include "fray/venv_options.hpp"

namespace fray::detail {

// Call with the key's lock held exclusively. On failure nothing is left in
// envs/ or tmp/ (the log stays, and the error names it); throws
// RuntimeEnvSetupError (PackageNotFound, RuntimeEnvSetupTimeout) or
// CacheNotWritable.
void build_env(const EnvSpec& spec, const VenvOptions& options, const EnvList& parent);

// Deletes envs/<key> (complete or not) and what is left of abandoned builds
// of that key in tmp/. Call with the key's lock held exclusively. The marker
// goes first, so an interrupted delete leaves a partial env, never a
// complete-looking broken one.
void remove_env_files(const CacheLayout& cache, const std::string& key) noexcept;

// Updates the marker's mtime (the env's last use); false when the env is not
// complete.
bool touch_marker(const CacheLayout& cache, const std::string& key) noexcept;

}  // namespace fray::detail
