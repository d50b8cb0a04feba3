#include "fray/detail/env_builder.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <memory>

#include "fray/detail/cache_trust.hpp"
#include "fray/detail/fs_util.hpp"
#include "fray/duration_limit.hpp"
#include "fray/detail/process_runner.hpp"
#include "fray/detail/url_redaction.hpp"
#include "fray/venv_errors.hpp"

namespace fray::detail {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kLastLines = 20;
constexpr std::string_view kMarker = ".fray-complete";

// Where a build's output goes: the log file, the progress callback, and the
// last lines kept for the error message, every line with the credentials of
// its URLs hidden (pip and uv echo index URLs in their messages). Lines
// arrive on the process thread while a step runs; the builder reads them
// after the step.
class SetupLog {
 public:
  SetupLog(const fs::path& file, SetupProgress progress) : file_(file), progress_(std::move(progress)) {
    // Never through a link planted in logs/ (an UnsafeCache): a build would
    // append to whatever it points at.
    fd_ = open_cache_file(file, O_WRONLY | O_CREAT | O_APPEND);
    if (fd_ < 0) {
      throw CacheNotWritable(fmt::format("cannot write the build log {}: {}", file.string(), std::strerror(errno)));
    }
  }
  SetupLog(const SetupLog&) = delete;
  ~SetupLog() { ::close(fd_); }

  // A line of the installer's output.
  void output(std::string_view line) {
    const std::string shown = redact_text(line);
    write(shown);
    last_.push_back(shown);
    if (last_.size() > kLastLines) last_.pop_front();
    if (progress_) progress_(shown);
  }
  // A line of fray's own.
  void note(std::string_view line) {
    const std::string shown = redact_text(line);
    write(fmt::format("== fray: {}", shown));
    if (progress_) progress_(shown);
  }
  void clear_last() { last_.clear(); }
  std::vector<std::string> last_lines() const { return {last_.begin(), last_.end()}; }
  const fs::path& file() const { return file_; }

 private:
  void write(std::string_view line) {
    std::string text(line);
    text += '\n';
    // O_APPEND: concurrent builds of other keys never share this file, and
    // a short write only loses log text.
    [[maybe_unused]] ssize_t written = ::write(fd_, text.data(), text.size());
  }

  fs::path file_;
  SetupProgress progress_;
  int fd_ = -1;
  std::deque<std::string> last_;
};

std::string shell_quote(const std::string& word) {
  if (!word.empty() && word.find_first_of(" \t\n'\"\\$`*?[]{}()<>|&;#~") == std::string::npos) return word;
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

// The command as it is shown (log, error messages): credentials hidden.
std::string command_text(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& word : argv) {
    if (!text.empty()) text += ' ';
    text += shell_quote(redact_text(word));
  }
  return text;
}

bool mentions_missing_package(const std::vector<std::string>& lines) {
  for (const auto& line : lines) {
    if (line.find("No matching distribution found") != std::string::npos ||
        line.find("Could not find a version that satisfies") != std::string::npos ||
        line.find("not found in the package registry") != std::string::npos ||
        line.find("was not found in the provided package locations") != std::string::npos ||
        line.find("not found in the provided package locations") != std::string::npos) {
      return true;
    }
  }
  return false;
}

[[noreturn]] void throw_step_failure(const EnvSpec& spec, const std::vector<std::string>& argv, int status,
                                     const SetupLog& log, bool timed_out, std::chrono::milliseconds timeout) {
  const std::vector<std::string> last = log.last_lines();
  std::string message =
      timed_out ? fmt::format("building env {} timed out after {} ms in `{}` (its process group was killed)", spec.key,
                              timeout.count(), command_text(argv))
                : fmt::format("building env {} failed: `{}` exited with status {}", spec.key, command_text(argv), status);
  if (!last.empty()) {
    message += "\nlast output:";
    for (const auto& line : last) message += "\n  " + line;
  }
  message += fmt::format("\nfull log: {}", log.file().string());
  const std::vector<std::string> shown_argv = redact_texts(argv);
  if (timed_out) throw RuntimeEnvSetupTimeout(message, shown_argv, status, last, log.file());
  if (mentions_missing_package(last)) throw PackageNotFound(message, shown_argv, status, last, log.file());
  throw RuntimeEnvSetupError(message, shown_argv, status, last, log.file());
}

// Runs one setup command with what is left of the setup timeout.
void run_step(const EnvSpec& spec, std::vector<std::string> argv, std::vector<std::string> env,
              const std::shared_ptr<SetupLog>& log, Clock::time_point deadline, std::chrono::milliseconds timeout) {
  log->note(command_text(argv));
  log->clear_last();
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) throw_step_failure(spec, argv, -1, *log, true, timeout);
  RunOptions options;
  options.timeout = left;
  options.kill_grace = std::chrono::seconds(2);
  // Both streams to the same log, line by line, as they come.
  options.stream_stdout([log](std::string_view line) { log->output(line); });
  options.stream_stderr([log](std::string_view line) { log->output(line); });
  ProcessSpec process{fs::path(argv.front()), {argv.begin() + 1, argv.end()}, std::move(env)};
  try {
    const ProcessResult result = start_process(std::move(process), std::move(options)).get();
    if (!result.ok()) throw_step_failure(spec, argv, result.status(), *log, false, timeout);
  } catch (const ProcessTimeout& e) {
    throw_step_failure(spec, argv, e.result().status(), *log, true, timeout);
  } catch (const ProcessLaunchFailed& e) {
    log->output(e.what());
    throw_step_failure(spec, argv, 127, *log, false, timeout);
  }
}

// A venv built in tmp/ names that directory in its scripts (shebangs,
// activate) and in pyvenv.cfg: point them at where it will live.
void rewrite_build_paths(const fs::path& built, const fs::path& final_path) {
  const std::string from = built.string();
  const std::string to = final_path.string();
  auto rewrite = [&](const fs::path& file) {
    auto content = read_file(file);
    if (!content || content->find(from) == std::string::npos) return;
    std::string updated;
    std::size_t start = 0;
    for (std::size_t at; (at = content->find(from, start)) != std::string::npos; start = at + from.size()) {
      updated.append(*content, start, at - start);
      updated += to;
    }
    updated.append(*content, start);
    struct stat st {};
    const mode_t mode = ::stat(file.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0755;
    // Not fsynced, like the files the installer wrote: the marker's fsync
    // and the rename are what make a complete env (pre-commit, Airflow do the same).
    write_file_atomic(file, updated, false);
    ::chmod(file.c_str(), mode);
  };
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(built / "bin", ec)) {
    if (entry.is_symlink(ec) || !entry.is_regular_file(ec)) continue;
    const std::string name = entry.path().filename().string();
    if (starts_with_shebang(entry.path()) || name.starts_with("activate") || name == "Activate.ps1") rewrite(entry.path());
  }
  rewrite(built / "pyvenv.cfg");
}

// find-links directories (absolute paths) go on the command line, where a
// space in one needs no quoting; URLs go in the requirements file.
bool is_local_link(const std::string& link) { return link.starts_with('/'); }

// What the installer reads with -r: the index options too, so that their
// credentials are in no argv (`ps` shows argv to every user). With
// `redacted`, the copy kept in the env, credentials hidden.
std::string requirements_file_text(const EnvSpec& spec, bool with_constraints, bool redacted) {
  auto shown = [redacted](const std::string& text) { return redacted ? redact_text(text) : text; };
  auto shown_url = [redacted](const std::string& url) { return redacted ? redact_url(url) : url; };
  std::string text = "# Generated by fray: what this env was built from.\n";
  // An --index-url line would undo --no-index (pip reads it after the command line).
  if (spec.index_url && !spec.no_index) text += "--index-url " + shown_url(*spec.index_url) + "\n";
  if (!spec.no_index) {
    for (const auto& url : spec.extra_index_urls) text += "--extra-index-url " + shown_url(url) + "\n";
  }
  for (const auto& link : spec.find_links) {
    if (!is_local_link(link)) text += "--find-links " + shown_url(link) + "\n";
  }
  for (const auto& line : spec.requirements.option_lines) text += line + "\n";
  if (with_constraints) text += "-c fray-constraints.txt\n";
  for (const auto& line : spec.requirements.requirements) text += shown(line) + "\n";
  return text;
}

std::string constraints_file_text(const EnvSpec& spec, bool redacted) {
  std::string text;
  for (const auto& line : spec.requirements.constraints) text += (redacted ? redact_text(line) : line) + "\n";
  return text;
}

std::vector<std::string> venv_command(const EnvSpec& spec, const fs::path& dir) {
  std::vector<std::string> argv;
  if (spec.installer.kind == Installer::uv) {
    argv = {spec.installer.executable, "venv", "--python", spec.python.run_path};
  } else {
    // -I -S: the host's site-packages (and any .pth start-up cost in it)
    // play no part in making a bare venv.
    argv = {spec.python.run_path, "-I", "-S", "-m", "venv", "--without-pip"};
  }
  if (spec.system_site_packages) argv.emplace_back("--system-site-packages");
  argv.push_back(dir.string());
  return argv;
}

// Compiles what was installed, once, as the env will be used: the .pyc
// files record the final path (-d), and an env whose bytecode is complete
// is not written to when it is imported (at run time Python would make
// __pycache__ with the umask of whoever imports first).
std::vector<std::string> compile_command(const fs::path& built, const fs::path& final_path) {
  return {(built / "bin" / "python").string(), "-I", "-m", "compileall", "-q", "-d", (final_path / "lib").string(),
          (built / "lib").string()};
}

std::vector<std::string> install_command(const EnvSpec& spec, const fs::path& dir, const fs::path& requirements) {
  const std::string target = (dir / "bin" / "python").string();
  std::vector<std::string> argv;
  if (spec.installer.kind == Installer::uv) {
    argv = {spec.installer.executable, "pip", "install", "--python", target};
  } else {
    // --no-compile: .pyc files would record the temporary path.
    argv = {spec.python.run_path, "-m", "pip", "--python", target, "install", "--no-compile",
            "--disable-pip-version-check", "--no-input", "--progress-bar", "off"};
  }
  if (spec.no_index) argv.emplace_back("--no-index");
  // The index URLs are in the requirements file (requirements_file_text).
  for (const auto& link : spec.find_links) {
    if (!is_local_link(link)) continue;
    argv.emplace_back("--find-links");
    argv.push_back(link);
  }
  argv.emplace_back("-r");
  argv.push_back(requirements.string());
  return argv;
}

std::string metadata_json(const EnvSpec& spec, double build_seconds) {
  boost::json::array packages, requirements;
  for (const auto& p : spec.requirements.as_given) packages.emplace_back(redact_text(p));
  for (const auto& r : spec.requirements.requirements) requirements.emplace_back(redact_text(r));
  boost::json::object object{
      {"key", spec.key},
      {"created", std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()},
      {"python", spec.python.real_path},
      {"python_version", spec.python.version},
      {"implementation", spec.python.implementation},
      {"installer", fmt::format("{} {}", spec.installer.kind == Installer::uv ? "uv" : "pip", spec.installer.version)},
      {"system_site_packages", spec.system_site_packages},
      {"packages", std::move(packages)},
      {"requirements", std::move(requirements)},
      {"build_seconds", build_seconds},
      {"description", spec.description},
  };
  return boost::json::serialize(object);
}

}  // namespace

bool touch_marker(const CacheLayout& cache, const std::string& key) noexcept {
  const fs::path marker = cache.marker(key);
  if (::utimensat(AT_FDCWD, marker.c_str(), nullptr, AT_SYMLINK_NOFOLLOW) == 0) return true;
  // A read-only cache: the env is still usable, its last use just is not recorded.
  struct stat st {};
  return errno != ENOENT && errno != ENOTDIR && ::lstat(marker.c_str(), &st) == 0;
}

void remove_env_files(const CacheLayout& cache, const std::string& key) noexcept {
  const int envs_fd = ::open(cache.envs().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  const int env_fd = envs_fd < 0 ? -1 : ::openat(envs_fd, key.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (env_fd >= 0) {
    // The marker first, under the env's own descriptor: never in a
    // directory a link at envs/<key> points at.
    ::unlinkat(env_fd, std::string(kMarker).c_str(), 0);
    ::fsync(env_fd);
    ::close(env_fd);
    // Out of envs/ at once (a rename), then deleted at leisure.
    try {
      const fs::path trash = make_temp_directory(cache.tmp(), key + ".trash-");
      const int trash_fd = ::open(trash.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (trash_fd >= 0 && ::renameat(envs_fd, key.c_str(), trash_fd, "env") == 0) {
        ::fsync(envs_fd);
        remove_tree(trash);
      } else {
        remove_tree(trash);
        remove_tree_at(envs_fd, key.c_str());
      }
      if (trash_fd >= 0) ::close(trash_fd);
    } catch (...) {
      remove_tree_at(envs_fd, key.c_str());
    }
  } else if (envs_fd >= 0) {
    // Not a directory: a link (or a file) put at envs/<key> goes, and what
    // it points at stays.
    ::unlinkat(envs_fd, key.c_str(), 0);
  }
  if (envs_fd >= 0) ::close(envs_fd);
  // Abandoned builds of this key (a builder killed mid-build).
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cache.tmp(), ec)) {
    if (entry.path().filename().string().starts_with(key + ".")) remove_tree(entry.path());
  }
}

void build_env(const EnvSpec& spec, const VenvOptions& options, const EnvList& parent) {
  const CacheLayout cache = spec.cache();
  cache.ensure();
  const auto started = Clock::now();
  // Clamped: a setup_timeout of hours::max() means never, not an overflow.
  const auto deadline = started + clamp_duration<std::chrono::milliseconds>(options.setup_timeout);
  auto log = std::make_shared<SetupLog>(cache.log(spec.key), options.on_progress);
  log->note(fmt::format("build {} started (pid {})", spec.key, ::getpid()));
  log->note("description:\n" + spec.description);

  // What an earlier, interrupted build or delete left behind.
  remove_env_files(cache, spec.key);

  fs::path work;
  try {
    work = make_temp_directory(cache.tmp(), spec.key + ".");
  } catch (const std::system_error& e) {
    throw CacheNotWritable(fmt::format("the env cache {} is not writable: {}", cache.root().string(), e.what()));
  }
  const fs::path built = work / "env";
  const fs::path final_path = cache.env(spec.key);
  try {
    const auto env = installer_environment(parent, spec.dropped_installer_vars);
    run_step(spec, venv_command(spec, built), env, log, deadline, options.setup_timeout);

    if (spec.installs_anything()) {
      // What the installer reads, whole, in the build's own directory
      // (mkdtemp: 0700), removed with it; the env keeps a redacted copy.
      const bool constraints = !spec.requirements.constraints.empty();
      if (constraints) write_file(work / "fray-constraints.txt", constraints_file_text(spec, false), false, kPrivateFileMode);
      const fs::path requirements = work / "fray-requirements.txt";
      write_file(requirements, requirements_file_text(spec, constraints, false), false, kPrivateFileMode);
      log->note(fmt::format("installing {} requirement(s) with {} {}", spec.requirements.requirements.size(),
                            spec.installer.kind == Installer::uv ? "uv" : "pip", spec.installer.version));
      log->note("requirements file:\n" + requirements_file_text(spec, constraints, true));
      run_step(spec, install_command(spec, built, requirements), env, log, deadline, options.setup_timeout);
      if (constraints) write_file(built / "fray-constraints.txt", constraints_file_text(spec, true), false, kEnvFileMode);
      write_file(built / "fray-requirements.txt", requirements_file_text(spec, constraints, true), false, kEnvFileMode);
    }

    rewrite_build_paths(built, final_path);
    if (spec.installs_anything()) {
      log->note("compiling the installed modules");
      run_step(spec, compile_command(built, final_path), env, log, deadline, options.setup_timeout);
    }
    // No one else may change what fray will run, whatever the umask the
    // installer ran under.
    drop_group_other_write(built);
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    write_file(built / "fray-env.json", metadata_json(spec, seconds), false, kEnvFileMode);
    write_file(built / std::string(kMarker), spec.key + "\n", true, kEnvFileMode);
    fsync_directory(built);
    if (::rename(built.c_str(), final_path.c_str()) != 0) {
      throw CacheNotWritable(fmt::format("cannot move the built env to {}: {}", final_path.string(), std::strerror(errno)));
    }
    fsync_directory(cache.envs());
    remove_tree(work);
    log->note(fmt::format("build {} finished in {:.2f} s", spec.key, seconds));
  } catch (const RuntimeEnvError& e) {
    log->note(fmt::format("build {} failed: {}", spec.key, e.what()));
    remove_tree(work);
    throw;
  } catch (const std::system_error& e) {
    log->note(fmt::format("build {} failed: {}", spec.key, e.what()));
    remove_tree(work);
    throw CacheNotWritable(fmt::format("building env {} failed writing to the cache: {}", spec.key, e.what()));
  } catch (...) {
    remove_tree(work);
    throw;
  }
}

}  // namespace fray::detail
