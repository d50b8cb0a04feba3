// VenvCache: the cached envs on this machine: list them, remove one, and
// collect garbage (least recently used envs past a size bound, envs unused
// for longer than an age, and what interrupted builds left). An env in use
// (an open IsolatedVirtualEnv anywhere holds its shared lock) is never removed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fray {

struct CachedEnv {
  std::string key;
  std::filesystem::path path;
  std::uintmax_t size_bytes = 0;
  // When it was last opened (or built).
  std::chrono::system_clock::time_point last_use{};
  std::vector<std::string> packages;  // as they were asked for
  std::string python;                 // e.g. "cpython 3.11.2 /usr/bin/python3.11"
  std::string installer;              // e.g. "pip 23.0.1"
  bool in_use = false;
};

struct GcOptions {
  // Remove least recently used envs until the cache holds at most this much.
  std::optional<std::uintmax_t> max_size_bytes;
  // Remove envs not used for this long; 100 years or more (fray's
  // never_duration) removes none by age. Negative: InvalidOptions.
  std::optional<std::chrono::seconds> older_than;
};

struct GcReport {
  std::vector<std::string> removed;         // keys
  std::vector<std::string> skipped_in_use;  // keys gc would have removed
  std::uintmax_t bytes_freed = 0;
  std::uintmax_t bytes_left = 0;
  std::size_t leftovers_removed = 0;  // partial envs and abandoned builds
};

class VenvCache {
 public:
  // FRAY_CACHE_DIR, else $XDG_CACHE_HOME/fray, else ~/.cache/fray.
  VenvCache();
  explicit VenvCache(std::filesystem::path cache_dir);

  const std::filesystem::path& dir() const noexcept { return dir_; }
  static std::filesystem::path default_dir();

  // Complete envs, most recently used first.
  std::vector<CachedEnv> list() const;
  // Without options it only removes what interrupted builds left behind.
  GcReport gc(const GcOptions& options = {});
  // Removes the env with this key (or the only one whose key starts with
  // it, 6 characters at least). False when there is none; throws EnvInUse
  // when a process uses it, InvalidOptions when a prefix is ambiguous, or
  // CacheNotWritable (naming the lock file) when this user may not lock it.
  bool remove(std::string_view key);
  // The key of the env `key_or_prefix` names, as remove() resolves it
  // (to say which env was removed); nullopt when there is none.
  std::optional<std::string> find_key(std::string_view key_or_prefix) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace fray
