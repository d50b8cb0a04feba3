#include "fray/isolated_virtual_env.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <map>

#include "fray/detail/child_environment.hpp"
#include "fray/detail/env_builder.hpp"
#include "fray/detail/env_spec.hpp"
#include "fray/detail/file_lock.hpp"
#include "fray/detail/fs_util.hpp"
#include "fray/detail/process_runner.hpp"

namespace fray {

namespace fs = std::filesystem;
using detail::FileLock;

struct IsolatedVirtualEnv::Impl {
  std::string key;
  fs::path path;
  fs::path log;
  bool built_now = false;
  detail::EnvList parent;
  InheritEnv policy = InheritEnv::minimal;
  std::map<std::string, std::string> env_vars;
  // The shared lock: held while open, and by every lease (pools and
  // Python actors), so close() releases it only when they are gone too.
  std::shared_ptr<FileLock> lock;
  bool open = false;
  std::shared_ptr<detail::ProcessSet> processes = std::make_shared<detail::ProcessSet>();
};

namespace {

FileLock lock_key(const detail::CacheLayout& cache, const std::string& key, FileLock::Mode mode) {
  for (int attempt = 0;; ++attempt) {
    try {
      return FileLock::acquire(cache.lock(key), mode);
    } catch (const std::system_error& e) {
      // The first use of a cache creates its directories.
      if (attempt == 0 && (e.code().value() == ENOENT)) {
        cache.ensure();
        continue;
      }
      // ensure() says precisely what is wrong, when it can.
      if (attempt == 0) cache.ensure();
      throw CacheNotWritable(fmt::format("the env cache {} is not writable: {}", cache.root().string(), e.what()));
    }
  }
}

// A key as IsolatedVirtualEnv::key() gives it: 32 lowercase hex digits
// (so it names one directory of envs/, and no path).
void check_built_key(const std::string& key) {
  const bool hex = std::all_of(key.begin(), key.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  if (key.size() != 32 || !hex) {
    throw InvalidOptions(fmt::format("VenvOptions::built_key '{}' is not an env key (32 hex digits, as key() gives)", key));
  }
}

// With built_key, what builds the env is not read (its files, its URLs).
VenvOptions without_packages_if_built(const VenvOptions& options) {
  if (!options.built_key) return options;
  VenvOptions opening = options;
  opening.packages.clear();
  opening.requirements_file.reset();
  opening.find_links.clear();
  opening.index_url.reset();
  opening.extra_index_urls.clear();
  return opening;
}

Future<ProcessResult> failed_future(std::exception_ptr error) {
  auto* state = new detail::SharedState<ProcessResult>(1);
  state->complete_with_error(std::move(error));
  return Future<ProcessResult>(state);
}

}  // namespace

IsolatedVirtualEnv::IsolatedVirtualEnv(VenvOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->parent = detail::snapshot_environ();
  if (options.built_key) check_built_key(*options.built_key);
  detail::EnvSpec spec = detail::resolve_env_spec(without_packages_if_built(options), impl_->parent);
  if (options.built_key) spec.key = *options.built_key;
  const detail::CacheLayout cache = spec.cache();
  impl_->key = spec.key;
  impl_->path = cache.env(spec.key);
  impl_->log = cache.log(spec.key);
  impl_->policy = options.inherit_env;
  impl_->env_vars = options.env;

  // Shared to use; exclusive to build, then back to shared. flock's
  // conversions are not atomic, so each step checks again.
  FileLock lock = lock_key(cache, spec.key, FileLock::Mode::shared);
  // Before anything in the env is touched or run.
  cache.verify_env(spec.key);
  for (;;) {
    if (detail::touch_marker(cache, spec.key)) break;
    if (options.built_key) {
      throw EnvNotBuilt(fmt::format("env {} is not built in {} (built_key opens an env only once it is complete)",
                                    spec.key, cache.root().string()));
    }
    if (!lock.change(FileLock::Mode::exclusive)) {
      lock = lock_key(cache, spec.key, FileLock::Mode::shared);
      continue;
    }
    // Another process may have built it while we waited for the lock.
    if (!detail::touch_marker(cache, spec.key)) {
      detail::build_env(spec, options, impl_->parent);
      impl_->built_now = true;
    }
    if (!lock.change(FileLock::Mode::shared)) lock = lock_key(cache, spec.key, FileLock::Mode::shared);
  }
  impl_->lock = std::make_shared<FileLock>(std::move(lock));
  impl_->open = true;
}

IsolatedVirtualEnv::IsolatedVirtualEnv(IsolatedVirtualEnv&&) noexcept = default;

IsolatedVirtualEnv& IsolatedVirtualEnv::operator=(IsolatedVirtualEnv&& other) noexcept {
  if (this != &other) {
    close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

IsolatedVirtualEnv::~IsolatedVirtualEnv() { close(); }

std::string IsolatedVirtualEnv::key_of(const VenvOptions& options) {
  if (options.built_key) {
    check_built_key(*options.built_key);
    return *options.built_key;
  }
  return detail::resolve_env_spec(options, detail::snapshot_environ()).key;
}

std::optional<fs::path> IsolatedVirtualEnv::find(const VenvOptions& options) {
  // A lookup: it must leave the cache as it is (no memos, no directories).
  if (options.built_key) check_built_key(*options.built_key);
  detail::EnvSpec spec =
      detail::resolve_env_spec(without_packages_if_built(options), detail::snapshot_environ(), detail::CacheWrites::none);
  if (options.built_key) spec.key = *options.built_key;
  const detail::CacheLayout cache = spec.cache();
  cache.verify_env(spec.key);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(cache.marker(spec.key), ec))) return std::nullopt;
  return cache.env(spec.key);
}

namespace {
[[noreturn]] void throw_moved_from() { throw Error("this IsolatedVirtualEnv was moved from"); }
}  // namespace

const std::string& IsolatedVirtualEnv::key() const {
  if (!impl_) throw_moved_from();
  return impl_->key;
}
const fs::path& IsolatedVirtualEnv::path() const {
  if (!impl_) throw_moved_from();
  return impl_->path;
}
fs::path IsolatedVirtualEnv::python() const { return path() / "bin" / "python"; }
const fs::path& IsolatedVirtualEnv::log_file() const {
  if (!impl_) throw_moved_from();
  return impl_->log;
}
bool IsolatedVirtualEnv::built_now() const {
  if (!impl_) throw_moved_from();
  return impl_->built_now;
}
bool IsolatedVirtualEnv::is_open() const noexcept { return impl_ && impl_->open; }

std::vector<std::string> IsolatedVirtualEnv::child_environment(const RunOptions& options) const {
  if (!impl_) throw_moved_from();
  detail::check_env_var_names(options.env, "RunOptions::env");
  return detail::compose_child_environment(impl_->parent, impl_->policy, impl_->env_vars, options.env, impl_->path);
}

Future<ProcessResult> IsolatedVirtualEnv::run(std::vector<std::string> argv, RunOptions options) const {
  try {
    if (!is_open()) throw Error("this IsolatedVirtualEnv is closed");
    if (argv.empty() || argv.front().empty()) throw InvalidOptions("run: no command (argv is empty)");
    std::vector<std::string> env = child_environment(options);
    std::string_view path_var;
    for (const auto& entry : env) {
      if (entry.starts_with("PATH=")) path_var = std::string_view(entry).substr(5);
    }
    if (options.cwd) {
      std::error_code ec;
      if (!fs::is_directory(*options.cwd, ec)) {
        throw InvalidOptions(fmt::format("run: the working directory {} does not exist", options.cwd->string()));
      }
    }
    fs::path executable;
    const std::string& command = argv.front();
    if (command.find('/') != std::string::npos) {
      std::error_code ec;
      fs::path candidate(command);
      // A relative path is relative to the process's working directory.
      if (candidate.is_relative() && options.cwd) candidate = *options.cwd / candidate;
      candidate = fs::absolute(candidate, ec);
      if (detail::is_executable_file(candidate)) {
        executable = candidate;
      } else if (fs::exists(candidate, ec)) {
        throw CommandNotExecutable(fmt::format("{}: cannot run it: {}", command,
                                               fs::is_directory(candidate, ec) ? "it is a directory" : "permission denied (not executable)"));
      }
    } else {
      executable = detail::find_on_path(command, path_var);
    }
    if (executable.empty()) {
      throw CommandNotFound(fmt::format("{}: command not found (not an executable file on the env's PATH {})", command,
                                        path_var));
    }
    argv.erase(argv.begin());
    return detail::start_process(detail::ProcessSpec{executable, std::move(argv), std::move(env)}, std::move(options),
                                 impl_->processes);
  } catch (...) {
    return failed_future(std::current_exception());
  }
}

void IsolatedVirtualEnv::close() noexcept {
  if (!impl_) return;
  impl_->processes->close();
  impl_->open = false;
  impl_->lock.reset();
}

std::shared_ptr<const void> detail::env_lease(const IsolatedVirtualEnv& env) {
  if (!env.is_open()) return nullptr;
  return env.impl_->lock;
}

}  // namespace fray
