#include "fray/detail/env_spec.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "fray/detail/cache_trust.hpp"
#include "fray/detail/fs_util.hpp"
#include "fray/duration_limit.hpp"
#include "fray/detail/process_runner.hpp"
#include "fray/detail/sha256.hpp"
#include "fray/detail/url_redaction.hpp"
#include "fray/venv_errors.hpp"

namespace fray::detail {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// Bumped when the layout of envs or the meaning of the description changes.
constexpr std::string_view kDescriptionVersion = "fray-venv 1";

// Everything about the interpreter the key and the build need, in one run.
// find_spec locates pip without importing it.
constexpr std::string_view kProbeScript = R"PY(
import json, sys
from importlib import metadata, util
try:
    pip_version = metadata.version("pip")
except Exception:
    pip_version = ""
try:
    spec = util.find_spec("pip")
    pip_file = spec.origin if spec and spec.origin else ""
except Exception:
    pip_file = ""
json.dump({"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3],
           "implementation": sys.implementation.name, "pip_version": pip_version,
           "pip_file": pip_file}, sys.stdout)
)PY";

std::string last_line(const std::string& text) {
  std::string_view view(text);
  while (!view.empty() && (view.back() == '\n' || view.back() == '\r')) view.remove_suffix(1);
  const auto newline = view.rfind('\n');
  return std::string(newline == std::string_view::npos ? view : view.substr(newline + 1));
}

std::string short_hash(std::string_view text) { return sha256_hex(text).substr(0, 24); }

bool has_scheme(std::string_view text) {
  const auto colon = text.find("://");
  return colon != std::string_view::npos && colon > 0 &&
         std::all_of(text.begin(), text.begin() + long(colon),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'; });
}

bool is_distribution(const fs::path& file) {
  const std::string name = file.filename().string();
  for (std::string_view suffix : {".whl", ".tar.gz", ".zip", ".tgz", ".tar.bz2", ".tar"}) {
    if (name.ends_with(suffix)) return true;
  }
  return false;
}

// Version strings like "23.0.1" or "22.3"; enough to compare with a minimum.
bool version_at_least(const std::string& version, int major, int minor) {
  int found_major = 0, found_minor = 0;
  if (std::sscanf(version.c_str(), "%d.%d", &found_major, &found_minor) < 1) return false;
  return found_major > major || (found_major == major && found_minor >= minor);
}

// In-process memos: a cache hit must not run anything.
struct Memo {
  std::mutex mutex;
  std::map<std::string, Interpreter> interpreters;  // by path, identity (and pip's identity)
  std::map<std::string, std::string> tool_versions;
  std::map<std::string, std::string> file_hashes;
};
Memo& memo() {
  static Memo instance;
  return instance;
}

// Small JSON files of the probe cache: best effort, a failure only costs a re-probe.
std::optional<json::object> read_json_object(const fs::path& file) {
  // One that someone else could have written is not believed (it names the
  // interpreter fray runs): it is recomputed and replaced.
  const auto text = read_trusted_file(file);
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  json::value value = json::parse(*text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}
void write_json_quietly(const CacheLayout& cache, const fs::path& file, const json::object& object) {
  if (!cache.remembers()) return;
  try {
    cache.ensure();
    write_file_atomic(file, json::serialize(object), false, kPrivateFileMode);
  } catch (...) {
  }
}
std::string string_field(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
}

std::string identity_text(const std::string& file) {
  if (file.empty()) return "none";
  const auto id = identity_of(file);
  return id ? id->text() : "missing";
}

Interpreter probe_interpreter(const fs::path& exe, const EnvList& parent) {
  ProcessSpec spec{exe, {"-I", "-c", std::string(kProbeScript)}, installer_environment(parent, {})};
  ProcessResult result;
  try {
    result = start_process(std::move(spec), RunOptions{}.with_timeout(std::chrono::seconds(60))).get();
  } catch (const std::exception& e) {
    throw InterpreterNotFound(fmt::format("python {} could not be run: {}", exe.string(), e.what()));
  }
  boost::system::error_code ec;
  json::value value = result.ok() ? json::parse(result.out, ec) : json::value();
  if (!result.ok() || ec || !value.is_object()) {
    throw InterpreterNotFound(fmt::format("{} does not run as a Python 3 interpreter (exit status {}{}{})", exe.string(),
                                          result.status(), result.err.empty() ? "" : ": ", last_line(result.err)));
  }
  const json::object& info = value.as_object();
  Interpreter python;
  python.run_path = string_field(info, "executable");
  if (python.run_path.empty()) python.run_path = exe.string();
  std::error_code fs_error;
  python.real_path = fs::canonical(python.run_path, fs_error).string();
  if (fs_error) python.real_path = python.run_path;
  python.version = string_field(info, "version");
  python.implementation = string_field(info, "implementation");
  python.pip_version = string_field(info, "pip_version");
  python.pip_file = string_field(info, "pip_file");
  return python;
}

json::object interpreter_json(const Interpreter& python) {
  return {{"run_path", python.run_path},
          {"real_path", python.real_path},
          {"version", python.version},
          {"implementation", python.implementation},
          {"pip_version", python.pip_version}};
}

Interpreter resolve_interpreter(const std::string& name, const EnvList& parent, const CacheLayout& cache) {
  fs::path found;
  if (name.empty()) throw InterpreterNotFound("no Python interpreter named (VenvOptions::python is empty)");
  if (name.find('/') != std::string::npos) {
    std::error_code ec;
    found = fs::absolute(name, ec);
    if (!is_executable_file(found)) throw InterpreterNotFound(fmt::format("python {}: no such executable file", name));
  } else {
    found = find_on_path(name, lookup(parent, "PATH"));
    if (found.empty()) throw InterpreterNotFound(fmt::format("python '{}' is not on PATH", name));
  }
  const auto identity = identity_of(found);
  if (!identity) throw InterpreterNotFound(fmt::format("python {}: no such file", found.string()));
  // A wrapper script (a pyenv shim) picks its interpreter by directory and
  // environment: remember it for this process only.
  const bool script = starts_with_shebang(found);
  std::string memo_key = found.string() + "|" + identity->text();
  if (script) {
    std::error_code ec;
    memo_key += fmt::format("|{}|{}", lookup(parent, "PYENV_VERSION"), fs::current_path(ec).string());
  }
  const fs::path disk_file = cache.probes() / ("python-" + short_hash(found.string()) + ".json");
  {
    std::lock_guard guard(memo().mutex);
    if (auto it = memo().interpreters.find(memo_key); it != memo().interpreters.end()) return it->second;
  }
  if (!script) {
    if (auto cached = read_json_object(disk_file)) {
      if (string_field(*cached, "identity") == identity->text() &&
          string_field(*cached, "pip_identity") == identity_text(string_field(*cached, "pip_file"))) {
        if (const auto* info = cached->if_contains("info"); info != nullptr && info->is_object()) {
          Interpreter python;
          python.run_path = string_field(info->as_object(), "run_path");
          python.real_path = string_field(info->as_object(), "real_path");
          python.version = string_field(info->as_object(), "version");
          python.implementation = string_field(info->as_object(), "implementation");
          python.pip_version = string_field(info->as_object(), "pip_version");
          if (!python.run_path.empty() && !python.version.empty()) {
            std::lock_guard guard(memo().mutex);
            memo().interpreters[memo_key] = python;
            return python;
          }
        }
      }
    }
  }
  Interpreter python = probe_interpreter(found, parent);
  if (!script) {
    // pip's own file: upgrading pip changes the installer's version.
    const std::string& pip_file = python.pip_file;
    write_json_quietly(cache, disk_file, {{"path", found.string()},
                                   {"identity", identity->text()},
                                   {"pip_file", pip_file},
                                   {"pip_identity", identity_text(pip_file)},
                                   {"info", interpreter_json(python)}});
  }
  std::lock_guard guard(memo().mutex);
  memo().interpreters[memo_key] = python;
  return python;
}

std::string tool_version(const fs::path& tool, const EnvList& parent, const CacheLayout& cache) {
  const auto identity = identity_of(tool);
  const std::string memo_key = tool.string() + "|" + (identity ? identity->text() : "");
  {
    std::lock_guard guard(memo().mutex);
    if (auto it = memo().tool_versions.find(memo_key); it != memo().tool_versions.end()) return it->second;
  }
  const fs::path disk_file = cache.probes() / ("tool-" + short_hash(tool.string()) + ".json");
  std::string version;
  if (auto cached = read_json_object(disk_file); cached && identity && string_field(*cached, "identity") == identity->text()) {
    version = string_field(*cached, "version");
  }
  if (version.empty()) {
    ProcessResult result;
    try {
      result = start_process(ProcessSpec{tool, {"--version"}, installer_environment(parent, {})},
                             RunOptions{}.with_timeout(std::chrono::seconds(60)))
                   .get();
    } catch (const std::exception& e) {
      throw InstallerNotFound(fmt::format("{} --version failed: {}", tool.string(), e.what()));
    }
    if (!result.ok()) {
      throw InstallerNotFound(fmt::format("{} --version exited with status {}: {}", tool.string(), result.status(),
                                          last_line(result.err)));
    }
    version = last_line(result.out);
    if (version.empty()) version = "unknown";
    if (identity) write_json_quietly(cache, disk_file, {{"identity", identity->text()}, {"version", version}});
  }
  std::lock_guard guard(memo().mutex);
  memo().tool_versions[memo_key] = version;
  return version;
}

InstallerChoice choose_installer(const VenvOptions& options, const Interpreter& python, bool installs,
                                 const EnvList& parent, const CacheLayout& cache) {
  InstallerChoice choice;
  fs::path uv;
  if (options.installer != Installer::pip) uv = find_on_path("uv", lookup(parent, "PATH"));
  choice.kind = options.installer == Installer::automatic ? (uv.empty() ? Installer::pip : Installer::uv) : options.installer;
  if (choice.kind == Installer::uv) {
    if (uv.empty()) throw InstallerNotFound("the uv installer was asked for, and uv is not on PATH");
    choice.executable = uv.string();
    choice.version = tool_version(uv, parent, cache);
    return choice;
  }
  choice.executable = python.run_path;
  choice.version = python.pip_version.empty() ? "none" : python.pip_version;
  if (installs && python.pip_version.empty()) {
    throw InstallerNotFound(fmt::format(
        "{} has no pip to install packages with (install pip for it, e.g. Debian's python3-pip, or put uv on PATH)",
        python.run_path));
  }
  if (installs && !version_at_least(python.pip_version, 22, 3)) {
    throw InstallerNotFound(fmt::format("{}'s pip is {}; installing into an env needs pip >= 22.3 (--python)",
                                        python.run_path, python.pip_version));
  }
  return choice;
}

// The installer reads the index URLs from a requirements file (their
// credentials stay out of argv), where whitespace would end one.
void check_index_url(const std::string& url) {
  if (url.empty()) throw InvalidOptions("an index URL is empty");
  if (std::any_of(url.begin(), url.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
    throw InvalidOptions(fmt::format("the index URL '{}' holds whitespace (percent-encode it: %20)", redact_url(url)));
  }
}

// The description as it is shown and stored (the log, fray-env.json): the
// one the key is the hash of, with the userinfo of its URLs hidden. The key
// still tells two passwords apart; the cache never holds one.
std::string shown_description(std::string_view keyed) {
  std::string shown;
  for (std::size_t start = 0; start < keyed.size();) {
    const auto end = std::min(keyed.find('\n', start), keyed.size());
    const std::string_view line = keyed.substr(start, end - start);
    bool url_line = false;
    for (std::string_view field : {"index-url ", "extra-index-url ", "find-links "}) {
      if (line.starts_with(field)) {
        shown += std::string(field) + redact_url(line.substr(field.size()));
        url_line = true;
        break;
      }
    }
    if (!url_line) shown += redact_text(line);
    if (end < keyed.size()) shown += '\n';
    start = end + 1;
  }
  return shown;
}

fs::path absolute_path(const std::string& text) {
  std::string path = text;
  if (path.starts_with("file://")) path = path.substr(7);
  std::error_code ec;
  return fs::absolute(path, ec).lexically_normal();
}

}  // namespace

void CacheLayout::verify() const {
  check_cache_dir(cache_dir(), false);
  if (!check_cache_subdir(root_, false)) return;
  for (const fs::path& dir : {envs(), locks(), logs(), tmp(), probes(), hashes()}) check_cache_subdir(dir, false);
}

void CacheLayout::ensure() const {
  check_cache_dir(cache_dir(), true);
  for (const fs::path& dir : {root_, envs(), locks(), logs(), tmp(), probes(), hashes()}) {
    check_cache_subdir(dir, true);
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      throw CacheNotWritable(fmt::format("the env cache {} is not writable: {}", dir.string(), std::strerror(errno)));
    }
  }
}

void CacheLayout::verify_env(const std::string& key) const {
  if (check_cache_subdir(env(key), false)) check_cache_subdir(env(key) / "bin", false);
}

namespace {
// The home directory the password database gives the effective user, or empty.
fs::path passwd_home() {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? std::size_t(size) : 16384);
  struct passwd entry {};
  struct passwd* found = nullptr;
  while (::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found) == ERANGE) buffer.resize(buffer.size() * 2);
  if (found == nullptr || found->pw_dir == nullptr || found->pw_dir[0] != '/') return {};
  return fs::path(found->pw_dir);
}
}  // namespace

fs::path default_cache_dir(const EnvList& env) {
  if (auto dir = lookup(env, "FRAY_CACHE_DIR"); !dir.empty()) return fs::path(dir);
  if (auto xdg = lookup(env, "XDG_CACHE_HOME"); !xdg.empty() && fs::path(xdg).is_absolute()) return fs::path(xdg) / "fray";
  if (auto home = lookup(env, "HOME"); !home.empty()) return fs::path(home) / ".cache" / "fray";
  // Not /tmp/fray-cache-<uid>: anyone could make that first and fill it.
  if (const fs::path home = passwd_home(); !home.empty()) return home / ".cache" / "fray";
  throw CacheNotWritable(fmt::format(
      "no place for the env cache: HOME and XDG_CACHE_HOME are unset and uid {} has no home directory in the password "
      "database; set FRAY_CACHE_DIR",
      ::geteuid()));
}

std::string cached_file_hash(const fs::path& file, const CacheLayout& cache) {
  const auto identity = identity_of(file);
  if (!identity) throw std::system_error(ENOENT, std::generic_category(), "cannot read " + file.string());
  const std::string memo_key = file.string() + "|" + identity->text();
  {
    std::lock_guard guard(memo().mutex);
    if (auto it = memo().file_hashes.find(memo_key); it != memo().file_hashes.end()) return it->second;
  }
  const fs::path disk_file = cache.hashes() / short_hash(file.string());
  std::string hash;
  if (auto cached = read_json_object(disk_file); cached && string_field(*cached, "identity") == identity->text()) {
    hash = string_field(*cached, "sha256");
  }
  if (hash.size() != 64) {
    hash = sha256_file_hex(file);
    // A file rewritten while we read it must not be remembered with its new identity.
    if (identity_of(file) == identity) {
      write_json_quietly(cache, disk_file, {{"path", file.string()}, {"identity", identity->text()}, {"sha256", hash}});
    }
  }
  std::lock_guard guard(memo().mutex);
  memo().file_hashes[memo_key] = hash;
  return hash;
}

EnvSpec resolve_env_spec(const VenvOptions& options, const EnvList& parent, CacheWrites writes) {
  check_env_var_names(options.env, "VenvOptions::env");
  check_not_negative(options.setup_timeout, "VenvOptions::setup_timeout");
  EnvSpec spec;
  spec.cache_dir = options.cache_dir ? *options.cache_dir : default_cache_dir(parent);
  {
    std::error_code ec;
    spec.cache_dir = fs::absolute(spec.cache_dir, ec).lexically_normal();
  }
  const CacheLayout cache = writes == CacheWrites::none ? spec.cache().read_only() : spec.cache();
  // Before a probe or a hash is read from it.
  cache.verify();

  // Requirements first: a malformed one fails before anything runs.
  Requirements& reqs = spec.requirements;
  for (const std::string& package : options.packages) {
    reqs.requirements.push_back(canonical_requirement(package, reqs.local_files));
    reqs.as_given.push_back(package);
  }
  if (options.requirements_file) read_requirements_file(*options.requirements_file, reqs);
  reqs.canonicalize();

  spec.index_url = options.index_url ? options.index_url : reqs.index_url;
  spec.extra_index_urls = options.extra_index_urls;
  spec.extra_index_urls.insert(spec.extra_index_urls.end(), reqs.extra_index_urls.begin(), reqs.extra_index_urls.end());
  spec.no_index = options.no_index || reqs.no_index;
  if (spec.index_url) check_index_url(*spec.index_url);
  for (const auto& url : spec.extra_index_urls) check_index_url(url);
  spec.system_site_packages = options.system_site_packages;

  std::vector<std::string> links = options.find_links;
  links.insert(links.end(), reqs.find_links.begin(), reqs.find_links.end());
  std::string links_text;
  for (const std::string& link : links) {
    if (has_scheme(link) && !link.starts_with("file://")) {
      spec.find_links.push_back(link);
      links_text += fmt::format("find-links {}\n", link);
      continue;
    }
    const fs::path path = absolute_path(link);
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      throw FindLinksNotFound(fmt::format("the find-links directory {} does not exist", path.string()));
    }
    spec.find_links.push_back(path.string());
    links_text += fmt::format("find-links {}\n", path.string());
    std::vector<fs::path> files;
    if (fs::is_directory(path, ec)) {
      for (const auto& entry : fs::directory_iterator(path, ec)) {
        if (entry.is_regular_file(ec) && is_distribution(entry.path())) files.push_back(entry.path());
      }
    } else {
      files.push_back(path);
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
      links_text += fmt::format("  dist {} sha256:{}\n", file.filename().string(), cached_file_hash(file, cache));
    }
  }

  spec.python = resolve_interpreter(options.python, parent, cache);
  spec.installer = choose_installer(options, spec.python, spec.installs_anything(), parent, cache);

  // Settings in the environment that the options override must not add to them.
  const bool uv = spec.installer.kind == Installer::uv;
  if (options.index_url || reqs.index_url) {
    spec.dropped_installer_vars.push_back(uv ? "UV_INDEX_URL" : "PIP_INDEX_URL");
    if (uv) spec.dropped_installer_vars.push_back("UV_DEFAULT_INDEX");
  }
  if (spec.no_index) {
    for (const char* name : {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_DEFAULT_INDEX"}) {
      spec.dropped_installer_vars.emplace_back(name);
    }
  }
  if (!links.empty()) spec.dropped_installer_vars.push_back(uv ? "UV_FIND_LINKS" : "PIP_FIND_LINKS");

  std::string text;
  text += fmt::format("{}\n", kDescriptionVersion);
  text += fmt::format("python {} {} {}\n", spec.python.real_path, spec.python.implementation, spec.python.version);
  text += fmt::format("system-site-packages {}\n", spec.system_site_packages ? 1 : 0);
  text += fmt::format("installer {} {}\n", uv ? "uv" : "pip", spec.installer.version);
  text += fmt::format("index-url {}\n", spec.index_url.value_or("(default)"));
  for (const auto& url : spec.extra_index_urls) text += fmt::format("extra-index-url {}\n", url);
  text += fmt::format("no-index {}\n", spec.no_index ? 1 : 0);
  text += links_text;
  for (const auto& line : reqs.option_lines) text += fmt::format("option {}\n", line);
  for (const auto& line : reqs.constraints) text += fmt::format("constraint {}\n", line);
  for (const auto& line : reqs.requirements) text += fmt::format("requirement {}\n", line);
  for (const auto& file : reqs.local_files) {
    text += fmt::format("local {} sha256:{}\n", file.string(), cached_file_hash(file, cache));
  }
  spec.key = sha256_hex(text).substr(0, 32);
  spec.description = shown_description(text);
  return spec;
}

}  // namespace fray::detail
