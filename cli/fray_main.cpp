// fray: run commands in cached, isolated Python environments, and look after
// the cache. `fray --help` and each command's --help say everything.
#include <fray/jobs.hpp>
#include <fray/venv.hpp>
#include <fray/version.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>

#include "command_call.hpp"
#include "command_job.hpp"
#include "command_line.hpp"

namespace {

using namespace fray;
using namespace fray::cli;

constexpr std::string_view main_help = R"(usage: fray COMMAND [OPTIONS]

Runs commands in cached, isolated Python environments: fray's replacement for
Ray's runtime_env ({"pip": [...], "env_vars": {...}}). An env is built once
for what it holds (packages, interpreter, index options) and shared after.

commands:
  run     build the env if needed, then run a command in it
  call    build the env if needed, then call a Python function in it
  venv    the env cache: create, path, list, gc, rm
  job     jobs on this machine or on Slurm: submit, call, status, logs, wait, stop, list, gc

options:
  -h, --help   this help; `fray COMMAND --help` explains a command
  --version    print fray's version

environment:
  FRAY_CACHE_DIR   where envs are cached (else $XDG_CACHE_HOME/fray, else ~/.cache/fray;
                   it must be yours, see `fray venv --help`)
  FRAY_PREFIX      fray's install prefix, for a fray outside it (fray finds its helper
                   programs and fray_worker.py from its own place: <prefix>/bin/fray
                   uses <prefix>/libexec/fray and <prefix>/share/fray)

Durations of 100 years or more mean never; sizes go up to 8E (8 EiB).
`fray run` exits with its command's status.
)";

constexpr std::string_view run_usage =
    "usage: fray run [ENV OPTIONS] [--timeout SECONDS] [--quiet] [--] COMMAND [ARG]...\n";
constexpr std::string_view run_text = R"(
Builds the env the options describe if it is not cached yet, then runs COMMAND
in it (looked up on the env's PATH, so `python` is the env's), with stdin,
stdout and stderr passed through. COMMAND runs in a process group of its own
and owns the terminal while it runs; SIGINT, SIGTERM, SIGHUP and SIGQUIT sent
to fray are passed on to it.

)";
constexpr std::string_view run_options_help = R"(
run options:
  --timeout SECONDS   stop COMMAND's process group after this long (SIGTERM, then
                      SIGKILL 2 s later) and exit with status 124; above 0,
                      100 years or more: never
  --quiet             show no progress while building
  -h, --help          this help

fray run exits with COMMAND's status; 125 when the env could not be built
(the installer's last lines are printed).
)";

constexpr std::string_view venv_help = R"(usage: fray venv SUBCOMMAND [OPTIONS]

The cache of isolated envs (in FRAY_CACHE_DIR, else $XDG_CACHE_HOME/fray,
else ~/.cache/fray; under venv/ there).

subcommands:
  create [ENV OPTIONS]   build the env if it is not cached; print its path
  path [ENV OPTIONS]     print the env's path if it is built, else exit 1
  list                   the cached envs: key, size, last use, packages
  gc [--max-size SIZE] [--older-than DAYS]
                         remove envs nobody uses: the least recently used
                         past a size, those unused for DAYS
  rm KEY...              remove envs by key (or a unique prefix of one)

The cache must be yours: fray refuses ("unsafe env cache: PATH ...") a cache
directory, a directory above it or one in it that another user (root
excepted) owns or that its group or others can write (above the cache: unless
it has the sticky bit, like /tmp), and any symbolic link in it. It makes its
directories 0700 and its files 0600 whatever the umask. A cache made under a
umask like 002 is refused until `chmod -R go-w` on it.

Run `fray venv SUBCOMMAND --help` for a subcommand's options.
)";

constexpr std::string_view create_usage = "usage: fray venv create [ENV OPTIONS] [--quiet]\n";
constexpr std::string_view create_text = R"(
Builds the env the options describe if it is not cached, and prints its path
(VIRTUAL_ENV for it; its interpreter is PATH/bin/python).

)";
constexpr std::string_view create_tail = R"(
options:
  --quiet      show no progress while building
  -h, --help   this help

0 when the env is there; 1 when it could not be built (the installer's last
lines are printed).
)";

constexpr std::string_view path_usage = "usage: fray venv path [ENV OPTIONS]\n";
constexpr std::string_view path_text = R"(
Prints the path of the env the options describe if it is built; builds
nothing and writes nothing in the cache.

)";
constexpr std::string_view path_tail = R"(
options:
  -h, --help   this help

0 when it is built; 1 when it is not.
)";

constexpr std::string_view list_help = R"(usage: fray venv list

Lists the cached envs, most recently used first: key, size, last use, whether
a process holds it open now, the interpreter and the packages asked for.

options:
  -h, --help   this help
)";

constexpr std::string_view gc_help = R"(usage: fray venv gc [--max-size SIZE] [--older-than DAYS]

Removes envs no process uses. Always removes what interrupted builds left.

options:
  --max-size SIZE    remove the least recently used envs until the cache holds at
                     most SIZE (bytes, or with a unit: 500M, 10G, 1.5GiB; at most 8E)
  --older-than DAYS  remove envs not used for DAYS days (fractions allowed; 0: all;
                     36525, 100 years, or more: none)
  -h, --help         this help

An env in use (opened by a running fray or program) is never removed.
)";

constexpr std::string_view rm_help = R"(usage: fray venv rm KEY...

Removes the envs with these keys (`fray venv list` shows them; a unique prefix
of 6 characters or more will do).

options:
  -h, --help   this help

Prints `removed KEY` (the whole key) for each. 0 when all were removed; 1
when one is unknown or in use; 125 when this user may not remove it.
)";

bool is_help(const std::string& arg) { return arg == "-h" || arg == "--help"; }

// Build progress on stderr: a status line that rewrites itself on a
// terminal, a single line otherwise. Called from fray's process thread.
class ProgressLine {
 public:
  explicit ProgressLine(bool quiet) : quiet_(quiet), terminal_(::isatty(STDERR_FILENO) == 1) {}
  ~ProgressLine() { clear(); }

  SetupProgress callback() {
    if (quiet_) return {};
    return [this](std::string_view line) { show(line); };
  }
  void clear() {
    std::lock_guard guard(mutex_);
    if (terminal_ && shown_) {
      std::fputs("\r\x1b[2K", stderr);
      std::fflush(stderr);
      shown_ = false;
    }
  }

 private:
  void show(std::string_view line) {
    std::lock_guard guard(mutex_);
    if (!terminal_) {
      if (!shown_) std::fprintf(stderr, "fray: %.*s\n", int(line.size()), line.data());
      shown_ = true;
      return;
    }
    winsize size{};
    const std::size_t width = ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 8 ? size.ws_col : 80;
    std::string text = fmt::format("fray: {}", line.substr(0, line.find('\n')));
    if (text.size() > width - 1) text.resize(width - 1);
    std::fprintf(stderr, "\r\x1b[2K%s", text.c_str());
    std::fflush(stderr);
    shown_ = true;
  }

  std::mutex mutex_;
  bool quiet_;
  bool terminal_;
  bool shown_ = false;
};

void print_error(const std::exception& e) { std::fprintf(stderr, "fray: %s\n", e.what()); }

// --- fray run --------------------------------------------------------------

// Signals sent to fray go to the command's process group once it runs;
// before that (while building) they end fray as they would have.
class SignalForwarder {
 public:
  SignalForwarder() {
    sigemptyset(&set_);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR2}) sigaddset(&set_, sig);
    // Blocked before any thread starts, so every thread inherits it and the
    // signals wait for sigwait below (children unblock them before exec).
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this] { forward(); });
  }
  SignalForwarder(const SignalForwarder&) = delete;
  ~SignalForwarder() {
    stopping_.store(true);
    ::kill(::getpid(), SIGUSR2);
    thread_.join();
  }
  void set_child(int pid) { child_.store(pid); }

 private:
  void forward() {
    for (;;) {
      int sig = 0;
      if (sigwait(&set_, &sig) != 0) continue;
      if (sig == SIGUSR2) {
        if (stopping_.load()) return;
        continue;
      }
      const int child = child_.load();
      if (child > 0) {
        ::kill(-child, sig);
        continue;
      }
      // Still building: die of the signal (the installer dies with us).
      ::signal(sig, SIG_DFL);
      sigset_t just;
      sigemptyset(&just);
      sigaddset(&just, sig);
      pthread_sigmask(SIG_UNBLOCK, &just, nullptr);
      ::raise(sig);
    }
  }

  sigset_t set_{};
  std::atomic<int> child_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

int command_run(ArgReader args) {
  EnvCommandArgs parsed = parse_env_command(args);
  if (parsed.help) {
    fmt::print("{}{}{}{}{}", run_usage, run_text, env_options_help, run_options_help, exit_status_help);
    return 0;
  }
  VenvOptions& venv = parsed.venv;
  const std::optional<std::chrono::milliseconds> timeout = parsed.timeout;
  const bool quiet = parsed.quiet;
  const std::vector<std::string>& command = parsed.rest;
  if (command.empty()) args.fail("no COMMAND to run (fray run [OPTIONS] -- COMMAND [ARG]...)");
  // As the shell: an empty command name is a command not found.
  if (command.front().empty()) {
    std::fprintf(stderr, "fray: '': command not found\n");
    return exit_status::not_found;
  }

  SignalForwarder signals;
  std::optional<IsolatedVirtualEnv> env;
  {
    ProgressLine progress(quiet);
    venv.on_progress = progress.callback();
    try {
      env.emplace(std::move(venv));
    } catch (const InvalidOptions& e) {  // what the command line said (an index URL with a space...)
      progress.clear();
      print_error(e);
      return exit_status::usage;
    } catch (const std::exception& e) {
      progress.clear();
      print_error(e);
      return exit_status::fray_error;
    }
  }

  RunOptions run;
  run.with_inherited_stdio();
  run.foreground = true;
  run.timeout = timeout;
  run.on_spawn = [&signals](int pid) { signals.set_child(pid); };
  try {
    const ProcessResult result = env->run(std::move(command), std::move(run)).get();
    return result.status();
  } catch (const CommandNotExecutable& e) {
    print_error(e);
    return exit_status::cannot_run;
  } catch (const CommandNotFound& e) {
    print_error(e);
    return exit_status::not_found;
  } catch (const ProcessTimeout& e) {
    print_error(e);
    return exit_status::timeout;
  } catch (const ProcessLaunchFailed& e) {
    print_error(e);
    return exit_status::cannot_run;
  } catch (const std::exception& e) {
    print_error(e);
    return exit_status::fray_error;
  }
}

// --- fray venv -------------------------------------------------------------

int venv_create_or_path(ArgReader args, bool create) {
  VenvOptions venv;
  bool quiet = false;
  while (!args.done()) {
    const std::string option = args.take_option();
    if (is_help(option)) {
      if (create) {
        fmt::print("{}{}{}{}{}", create_usage, create_text, env_options_help, create_tail, exit_status_help);
      } else {
        fmt::print("{}{}{}{}{}", path_usage, path_text, env_options_help, path_tail, exit_status_help);
      }
      return 0;
    }
    if (take_env_option(args, option, venv)) continue;
    if (create && (option == "--quiet" || option == "-q")) {
      args.no_value();
      quiet = true;
    } else if (!option.starts_with("-")) {
      args.fail(fmt::format("unexpected argument '{}'", option));
    } else {
      args.fail(fmt::format("unknown option '{}'", option));
    }
  }
  if (!create) {
    try {
      if (auto path = IsolatedVirtualEnv::find(venv)) {
        fmt::print("{}\n", path->string());
        return 0;
      }
      std::fprintf(stderr, "fray: this env is not built (fray venv create builds it)\n");
      return exit_status::failure;
    } catch (const UnsafeCache& e) {
      print_error(e);
      return exit_status::fray_error;
    } catch (const CacheNotWritable& e) {
      print_error(e);
      return exit_status::fray_error;
    } catch (const InvalidOptions& e) {  // what the command line said
      print_error(e);
      return exit_status::usage;
    } catch (const std::exception& e) {  // no such interpreter, find-links...
      print_error(e);
      return exit_status::failure;
    }
  }
  ProgressLine progress(quiet);
  venv.on_progress = progress.callback();
  try {
    IsolatedVirtualEnv env(std::move(venv));
    progress.clear();
    fmt::print("{}\n", env.path().string());
    return 0;
  } catch (const UnsafeCache& e) {  // the cache is unusable: fray's own error
    progress.clear();
    print_error(e);
    return exit_status::fray_error;
  } catch (const CacheNotWritable& e) {
    progress.clear();
    print_error(e);
    return exit_status::fray_error;
  } catch (const InvalidOptions& e) {  // what the command line said
    progress.clear();
    print_error(e);
    return exit_status::usage;
  } catch (const std::exception& e) {
    // Building is what was asked for here: its failure is a failure (1),
    // where run and call, which only need the env, say 125.
    progress.clear();
    print_error(e);
    return exit_status::failure;
  }
}

std::string local_time(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm parts{};
  ::localtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M", &parts);
  return text;
}

int venv_list(ArgReader args) {
  while (!args.done()) {
    const std::string option = args.take_option();
    if (is_help(option)) {
      fmt::print("{}{}", list_help, exit_status_help);
      return 0;
    }
    args.fail(fmt::format("unexpected argument '{}'", option));
  }
  VenvCache cache;
  const auto envs = cache.list();
  if (envs.empty()) {
    std::fprintf(stderr, "fray: no envs in %s\n", cache.dir().c_str());
    return 0;
  }
  fmt::print("{:<32}  {:>10}  {:<16}  {:<6}  {}\n", "KEY", "SIZE", "LAST USE", "IN USE", "PYTHON / PACKAGES");
  for (const CachedEnv& env : envs) {
    fmt::print("{:<32}  {:>10}  {:<16}  {:<6}  {}{}{}\n", env.key, format_size(env.size_bytes), local_time(env.last_use),
               env.in_use ? "yes" : "no", env.python, env.packages.empty() ? "" : ": ",
               fmt::join(env.packages, " "));
  }
  return 0;
}

int venv_gc(ArgReader args) {
  GcOptions options;
  while (!args.done()) {
    const std::string option = args.take_option();
    if (is_help(option)) {
      fmt::print("{}{}", gc_help, exit_status_help);
      return 0;
    }
    if (option == "--max-size") {
      options.max_size_bytes = size_option(args, option, true);
    } else if (option == "--older-than") {
      options.older_than = days_option(args, option);  // nullopt: never, none is old enough
    } else {
      args.fail(fmt::format("unexpected argument '{}'", option));
    }
  }
  VenvCache cache;
  try {
    const GcReport report = cache.gc(options);
    fmt::print("removed {} env(s), {} freed, {} left", report.removed.size(), format_size(report.bytes_freed),
               format_size(report.bytes_left));
    if (report.leftovers_removed > 0) fmt::print("; cleaned {} leftover(s) of interrupted builds", report.leftovers_removed);
    if (!report.skipped_in_use.empty()) fmt::print("; kept {} in use", report.skipped_in_use.size());
    fmt::print("\n");
    for (const auto& key : report.removed) fmt::print("removed {}\n", key);
    return 0;
  } catch (const std::exception& e) {
    print_error(e);
    return exit_status::fray_error;
  }
}

int venv_rm(ArgReader args) {
  std::vector<std::string> keys;
  while (!args.done()) {
    if (!args.peek().starts_with("-")) {
      keys.push_back(args.take());
      continue;
    }
    const std::string option = args.take_option();
    if (is_help(option)) {
      fmt::print("{}{}", rm_help, exit_status_help);
      return 0;
    }
    if (option == "--") {
      for (auto& key : args.rest()) keys.push_back(std::move(key));
      break;
    }
    args.fail(fmt::format("unknown option '{}'", option));
  }
  if (keys.empty()) args.fail("which env? (fray venv rm KEY...; fray venv list shows the keys)");
  VenvCache cache;
  int status = 0;
  for (const auto& wanted : keys) {
    try {
      // The whole key, also when a prefix named it: say which env went.
      const std::optional<std::string> key = cache.find_key(wanted);
      if (key && cache.remove(*key)) {
        fmt::print("removed {}\n", *key);
      } else {
        std::fprintf(stderr, "fray: no env %s in %s\n", wanted.c_str(), cache.dir().c_str());
        status = std::max(status, exit_status::failure);
      }
    } catch (const CacheNotWritable& e) {
      print_error(e);
      status = std::max(status, exit_status::fray_error);
    } catch (const UnsafeCache& e) {
      print_error(e);
      status = std::max(status, exit_status::fray_error);
    } catch (const std::exception& e) {  // in use, an ambiguous prefix
      print_error(e);
      status = std::max(status, exit_status::failure);
    }
  }
  return status;
}

int command_venv(ArgReader args) {
  if (args.done()) args.fail("which subcommand? (create, path, list, gc, rm)");
  const std::string sub = args.take();
  if (is_help(sub)) {
    fmt::print("{}{}", venv_help, exit_status_help);
    return 0;
  }
  std::vector<std::string> rest = args.rest();
  if (sub == "create") return venv_create_or_path(ArgReader("fray venv create", std::move(rest)), true);
  if (sub == "path") return venv_create_or_path(ArgReader("fray venv path", std::move(rest)), false);
  if (sub == "list") return venv_list(ArgReader("fray venv list", std::move(rest)));
  if (sub == "gc") return venv_gc(ArgReader("fray venv gc", std::move(rest)));
  if (sub == "rm") return venv_rm(ArgReader("fray venv rm", std::move(rest)));
  args.fail(fmt::format("unknown subcommand '{}' (create, path, list, gc, rm)", sub));
}

int dispatch(std::vector<std::string> argv) {
  ArgReader args("fray", std::move(argv));
  if (args.done()) args.fail("which command? (run, call, venv, job)");
  const std::string command = args.take();
  if (is_help(command)) {
    fmt::print("{}{}", main_help, exit_status_help);
    return 0;
  }
  if (command == "--version" || command == "-V") {
    if (!args.done()) args.fail(fmt::format("unexpected argument '{}' after --version", args.peek()));
    fmt::print("fray {}\n", fray::version());
    return 0;
  }
  if (command == "run") return command_run(ArgReader("fray run", args.rest()));
  if (command == "venv") return command_venv(ArgReader("fray venv", args.rest()));
  if (command == "call") return command_call(ArgReader("fray call", args.rest()));
  if (command == "job") return command_job(ArgReader("fray job", args.rest()));
  args.fail(fmt::format("unknown command '{}' (run, call, venv, job)", command));
}

}  // namespace

#if defined(__SANITIZE_THREAD__)
// See test/main.cpp: exception_ptr's reference count is invisible to TSan.
extern "C" const char* __tsan_default_suppressions() { return "race:__exception_ptr\n"; }
#endif

int main(int argc, char** argv) {
  try {
    return dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s (see '%s --help')\n", e.command().c_str(), e.what(), e.command().c_str());
    return exit_status::usage;
  } catch (const InvalidClusterSpec& e) {  // --cluster or FRAY_CLUSTER_SPEC
    print_error(e);
    return exit_status::usage;
  } catch (const InvalidJobRequest& e) {
    print_error(e);
    return exit_status::usage;
  } catch (const JobWaitTimeout& e) {
    print_error(e);
    return exit_status::timeout;
  } catch (const JobError& e) {  // no such job, a job refused or failed
    print_error(e);
    return exit_status::failure;
  } catch (const std::exception& e) {
    print_error(e);
    return exit_status::fray_error;
  }
}
