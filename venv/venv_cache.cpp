#include "fray/venv_cache.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fray/detail/cache_trust.hpp"
#include "fray/detail/child_environment.hpp"
#include "fray/detail/env_builder.hpp"
#include "fray/detail/env_metadata.hpp"
#include "fray/detail/env_spec.hpp"
#include "fray/detail/file_lock.hpp"
#include "fray/detail/fs_util.hpp"
#include "fray/detail/url_redaction.hpp"
#include "fray/venv_errors.hpp"

// Ages of 100 years or more (never_duration) remove nothing by age.
#include "fray/duration_limit.hpp"

namespace fray {

namespace fs = std::filesystem;
using detail::FileLock;

namespace {

bool is_key(std::string_view name) {
  return name.size() == 32 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::chrono::system_clock::time_point mtime_of(const fs::path& file) {
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0) return {};
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

// nullopt only when a process holds the env: a lock file this user may not
// open is a permission error, never "in use".
std::optional<FileLock> try_exclusive(const detail::CacheLayout& cache, const std::string& key) {
  try {
    return FileLock::try_acquire(cache.lock(key), FileLock::Mode::exclusive);
  } catch (const std::system_error& e) {
    throw CacheNotWritable(fmt::format("cannot lock env {}: {}", key, e.what()));
  }
}

// Whether a process holds the env open (its shared lock). A read-only
// descriptor can be flocked too, so listing needs no write access. The
// lock file is opened as every file of the cache is (no link followed, no
// FIFO waited on: UnsafeCache); one this user may not open leaves the
// answer unknown, which is said rather than guessed.
bool held_open(const detail::CacheLayout& cache, const std::string& key) {
  const int fd = detail::open_cache_file(cache.lock(key), O_RDONLY);
  if (fd < 0 && errno == ENOENT) return false;  // no lock file: no holder
  if (fd < 0) {
    throw CacheNotWritable(fmt::format("cannot tell whether env {} is in use: cannot open the lock file {}: {}", key,
                                       cache.lock(key).string(), std::strerror(errno)));
  }
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  const bool held = rc != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // drops the probe's lock
  return held;
}

CachedEnv describe(const detail::CacheLayout& cache, const std::string& key) {
  CachedEnv env;
  env.key = key;
  env.path = cache.env(key);
  env.size_bytes = detail::tree_size(env.path);
  env.last_use = mtime_of(cache.marker(key));
  if (auto text = detail::read_trusted_file(cache.metadata(key))) {
    detail::EnvMetadata metadata = detail::parse_env_metadata(*text);
    env.packages = std::move(metadata.packages);
    env.python = std::move(metadata.python);
    env.installer = std::move(metadata.installer);
  }
  return env;
}

bool exists_here(const fs::path& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec));
}

// Complete and partial envs under envs/. What is not a directory there (a
// link put at envs/<key>) is partial: gc and remove unlink it, and never
// look where it points.
void scan(const detail::CacheLayout& cache, std::vector<std::string>& complete, std::vector<std::string>& partial) {
  cache.verify();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cache.envs(), ec)) {
    const std::string name = entry.path().filename().string();
    if (!is_key(name)) continue;
    if (entry.symlink_status(ec).type() == fs::file_type::directory && exists_here(cache.marker(name))) {
      complete.push_back(name);
    } else {
      partial.push_back(name);
    }
  }
}

}  // namespace

VenvCache::VenvCache() : VenvCache(default_dir()) {}
VenvCache::VenvCache(fs::path cache_dir) : dir_(std::move(cache_dir)) {}

fs::path VenvCache::default_dir() { return detail::default_cache_dir(detail::snapshot_environ()); }

std::vector<CachedEnv> VenvCache::list() const {
  const detail::CacheLayout cache(dir_);
  std::vector<std::string> complete, partial;
  scan(cache, complete, partial);
  std::vector<CachedEnv> envs;
  for (const auto& key : complete) {
    CachedEnv env = describe(cache, key);
    env.in_use = held_open(cache, key);
    envs.push_back(std::move(env));
  }
  std::sort(envs.begin(), envs.end(), [](const CachedEnv& a, const CachedEnv& b) { return a.last_use > b.last_use; });
  return envs;
}

GcReport VenvCache::gc(const GcOptions& options) {
  const detail::CacheLayout cache(dir_);
  GcReport report;
  std::vector<std::string> complete, partial;
  scan(cache, complete, partial);

  // Leftovers: partial envs and abandoned builds whose key nobody holds.
  std::error_code ec;
  for (const auto& key : partial) {
    if (auto lock = try_exclusive(cache, key)) {
      detail::remove_env_files(cache, key);
      ++report.leftovers_removed;
    }
  }
  for (const auto& entry : fs::directory_iterator(cache.tmp(), ec)) {
    const std::string name = entry.path().filename().string();
    const std::string key = name.substr(0, name.find('.'));
    if (!is_key(key)) continue;
    if (auto lock = try_exclusive(cache, key)) {
      if (exists_here(entry.path())) {
        detail::remove_tree(entry.path());
        ++report.leftovers_removed;
      }
    }
  }

  std::vector<CachedEnv> envs;
  for (const auto& key : complete) envs.push_back(describe(cache, key));
  std::sort(envs.begin(), envs.end(), [](const CachedEnv& a, const CachedEnv& b) { return a.last_use < b.last_use; });
  std::uintmax_t total = 0;
  for (const auto& env : envs) total += env.size_bytes;

  if (options.older_than) check_not_negative(*options.older_than, "GcOptions::older_than");
  // 100 years or more: no env is too old (and last_use + it cannot overflow).
  const bool by_age = options.older_than && !is_never(*options.older_than);
  const std::chrono::seconds older_than = by_age ? *options.older_than : std::chrono::seconds::zero();
  const auto now = std::chrono::system_clock::now();
  for (const CachedEnv& env : envs) {
    const bool too_old = by_age && env.last_use + older_than <= now;
    const bool too_big = options.max_size_bytes && total > *options.max_size_bytes;
    if (!too_old && !too_big) continue;
    auto lock = try_exclusive(cache, env.key);
    // Re-check under the lock: it may have been used (or removed) meanwhile.
    if (!lock || !exists_here(cache.marker(env.key))) {
      if (!lock) report.skipped_in_use.push_back(env.key);
      continue;
    }
    if (!too_big && mtime_of(cache.marker(env.key)) + older_than > now) continue;
    detail::remove_env_files(cache, env.key);
    ::unlink(cache.log(env.key).c_str());
    lock->remove_file_and_release();
    report.removed.push_back(env.key);
    report.bytes_freed += env.size_bytes;
    total -= env.size_bytes;
  }
  report.bytes_left = total;

  // Logs and lock files of keys without an env (failed builds, removed envs).
  for (const auto& entry : fs::directory_iterator(cache.logs(), ec)) {
    const std::string key = entry.path().stem().string();
    if (!is_key(key) || exists_here(cache.env(key))) continue;
    if (auto lock = try_exclusive(cache, key)) {
      if (!exists_here(cache.env(key))) ::unlink(entry.path().c_str());
    }
  }
  for (const auto& entry : fs::directory_iterator(cache.locks(), ec)) {
    const std::string key = entry.path().stem().string();
    if (!is_key(key) || exists_here(cache.env(key))) continue;
    if (auto lock = try_exclusive(cache, key)) {
      if (!exists_here(cache.env(key))) lock->remove_file_and_release();
    }
  }
  return report;
}

std::optional<std::string> VenvCache::find_key(std::string_view wanted) const {
  const detail::CacheLayout cache(dir_);
  std::vector<std::string> complete, partial;
  scan(cache, complete, partial);
  std::vector<std::string> all = complete;
  all.insert(all.end(), partial.begin(), partial.end());
  if (std::find(all.begin(), all.end(), wanted) != all.end()) return std::string(wanted);
  if (wanted.size() < 6) return std::nullopt;
  std::vector<std::string> matches;
  for (const auto& candidate : all) {
    if (candidate.starts_with(wanted)) matches.push_back(candidate);
  }
  if (matches.size() > 1) {
    throw InvalidOptions(fmt::format("'{}' names {} envs: give more of the key", wanted, matches.size()));
  }
  if (matches.empty()) return std::nullopt;
  return matches.front();
}

bool VenvCache::remove(std::string_view wanted) {
  const detail::CacheLayout cache(dir_);
  const std::optional<std::string> found = find_key(wanted);
  if (!found) return false;
  const std::string& key = *found;
  auto lock = try_exclusive(cache, key);
  if (!lock) throw EnvInUse(fmt::format("env {} is in use (a process holds it open)", key));
  detail::remove_env_files(cache, key);
  ::unlink(cache.log(key).c_str());
  lock->remove_file_and_release();
  return true;
}

}  // namespace fray
