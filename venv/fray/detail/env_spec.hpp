// What an env is made of, resolved: the interpreter (probed once and cached
// by the executable's identity), the installer and its version, the
// canonical requirements, the local distributions' content hashes, and from
// all of it the canonical description whose SHA-256 is the cache key.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fray/detail/child_environment.hpp"
#include "fray/detail/requirements.hpp"
#include "fray/venv_options.hpp"

namespace fray::detail {

// The env cache's files, under <cache dir>/venv:
//   envs/<key>/          built envs (a venv, plus .fray-complete and fray-env.json)
//   locks/<key>.lock     flock: exclusive to build or delete, shared while in use
//   logs/<key>.log       every build's output
//   tmp/                 builds in progress, renamed into envs/ when complete
//   probes/, hashes/     interpreter probes and local file hashes, by file identity
class CacheLayout {
 public:
  explicit CacheLayout(std::filesystem::path cache_dir) : root_(std::move(cache_dir) / "venv") {}
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path envs() const { return root_ / "envs"; }
  std::filesystem::path locks() const { return root_ / "locks"; }
  std::filesystem::path logs() const { return root_ / "logs"; }
  std::filesystem::path tmp() const { return root_ / "tmp"; }
  std::filesystem::path probes() const { return root_ / "probes"; }
  std::filesystem::path hashes() const { return root_ / "hashes"; }
  std::filesystem::path env(const std::string& key) const { return envs() / key; }
  std::filesystem::path lock(const std::string& key) const { return locks() / (key + ".lock"); }
  std::filesystem::path log(const std::string& key) const { return logs() / (key + ".log"); }
  // Written last into a complete env; its mtime is the env's last use.
  std::filesystem::path marker(const std::string& key) const { return env(key) / ".fray-complete"; }
  std::filesystem::path metadata(const std::string& key) const { return env(key) / "fray-env.json"; }
  std::filesystem::path cache_dir() const { return root_.parent_path(); }
  // Checks the cache directory, the directories above it and those fray
  // uses in it (cache_trust.hpp), before anything in them is trusted;
  // throws UnsafeCache or CacheNotWritable. What is missing is fine.
  void verify() const;
  // verify(), making what is missing (0700); throws CacheNotWritable when
  // the cache cannot be written.
  void ensure() const;
  // Checks envs/<key> and its bin/ (not links, yours or root's, not
  // writable by group or others) before fray runs anything from it; throws
  // UnsafeCache. A missing env is fine.
  void verify_env(const std::string& key) const;
  // Whether resolving a spec may remember probes and hashes under probes/
  // and hashes/; off for a lookup that must leave the cache as it is.
  bool remembers() const { return remembers_; }
  CacheLayout read_only() const {
    CacheLayout copy = *this;
    copy.remembers_ = false;
    return copy;
  }

 private:
  std::filesystem::path root_;
  bool remembers_ = true;
};

// FRAY_CACHE_DIR, else $XDG_CACHE_HOME/fray, else $HOME/.cache/fray, else
// the home directory of the password database's entry for you. Never a
// shared, predictable path (someone else could make it first): without any
// of these it throws CacheNotWritable.
std::filesystem::path default_cache_dir(const EnvList& env);

struct Interpreter {
  std::string run_path;        // what runs `-m venv` and `-m pip` (its sys.executable)
  std::string real_path;       // canonical: part of the key
  std::string version;         // e.g. 3.11.2
  std::string implementation;  // e.g. cpython
  std::string pip_version;     // empty without pip
  std::string pip_file;        // pip/__init__.py, whose identity says pip is unchanged
};

struct InstallerChoice {
  Installer kind = Installer::pip;
  std::string executable;  // uv's path; the interpreter's for pip
  std::string version;
};

struct EnvSpec {
  std::filesystem::path cache_dir;
  Interpreter python;
  InstallerChoice installer;
  Requirements requirements;
  std::vector<std::string> find_links;  // absolute paths or URLs
  std::optional<std::string> index_url;
  std::vector<std::string> extra_index_urls;
  bool no_index = false;
  bool system_site_packages = false;
  std::vector<std::string> dropped_installer_vars;  // PIP_*/UV_* settings the options override
  std::string description;
  std::string key;

  CacheLayout cache() const { return CacheLayout(cache_dir); }
  bool installs_anything() const { return !requirements.requirements.empty(); }
};

// Throws InvalidOptions, InvalidRequirement, RequirementsFileNotFound,
// FindLinksNotFound, InterpreterNotFound or InstallerNotFound.
// With CacheWrites::none it writes nothing in the cache (no probe or hash
// memos, no directories): IsolatedVirtualEnv::find's "builds nothing".
enum class CacheWrites { memos, none };
EnvSpec resolve_env_spec(const VenvOptions& options, const EnvList& parent, CacheWrites writes = CacheWrites::memos);

// The content hash of a local file, reused while its identity holds.
std::string cached_file_hash(const std::filesystem::path& file, const CacheLayout& cache);

}  // namespace fray::detail
