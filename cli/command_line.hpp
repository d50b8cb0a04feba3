// The `fray` command line's parsing: options as `--name value` or
// `--name=value`, the env options shared by `run` and `venv create|path`,
// the one parser of durations, sizes and counts every command uses, and the
// usage error (exit status 2) every mistake becomes.
#pragma once

#include <fray/venv.hpp>

#include <cstdint>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fray::cli {

// A mistake on the command line: one line, then exit status 2.
class UsageError : public std::runtime_error {
 public:
  UsageError(std::string command, const std::string& message)
      : std::runtime_error(message), command_(std::move(command)) {}
  // The command whose --help explains it ("fray run", "fray venv gc"...).
  const std::string& command() const noexcept { return command_; }

 private:
  std::string command_;
};

// Walks the arguments of one command.
class ArgReader {
 public:
  ArgReader(std::string command, std::vector<std::string> args) : command_(std::move(command)), args_(std::move(args)) {}

  bool done() const { return index_ >= args_.size(); }
  const std::string& peek() const { return args_[index_]; }
  // The next argument is an option ("-x", "--name" or "--name=value"): take
  // its name, keeping an attached value for value().
  std::string take_option();
  // The value of the option just taken; a usage error when there is none.
  std::string value();
  // The option just taken must not have "=value".
  void no_value();
  std::string take() { return args_[index_++]; }
  std::vector<std::string> rest();
  [[noreturn]] void fail(const std::string& message) const { throw UsageError(command_, message); }
  const std::string& command() const { return command_; }

 private:
  std::string command_;
  std::vector<std::string> args_;
  std::size_t index_ = 0;
  std::string option_;
  std::optional<std::string> attached_;
};

// Takes `option` if it is one of the env options (--package, --python,
// --env...) and stores it into `venv`; false when it is not one of them.
bool take_env_option(ArgReader& args, const std::string& option, VenvOptions& venv);

// What `fray run` and `fray call` share: env options, --timeout, --quiet,
// then the rest of the line (after the options, or after --).
struct EnvCommandArgs {
  VenvOptions venv;
  std::optional<std::chrono::milliseconds> timeout;
  bool quiet = false;
  bool help = false;  // -h/--help was given: print the command's help
  std::vector<std::string> rest;
};
// Reads them; an unknown option or a bad value fails (exit status 2).
EnvCommandArgs parse_env_command(ArgReader& args);

// The env options' help, for each command that takes them.
extern const std::string_view env_options_help;

// The exit statuses every command shares, and the block each --help ends with.
namespace exit_status {
inline constexpr int success = 0;
inline constexpr int failure = 1;     // what was asked for did not succeed
inline constexpr int usage = 2;       // a bad command line
inline constexpr int timeout = 124;   // a --timeout passed
inline constexpr int fray_error = 125;  // fray's own part failed (the env, the cache)
inline constexpr int cannot_run = 126;  // as the shell: found, not executable
inline constexpr int not_found = 127;   // as the shell: no such command
}  // namespace exit_status
extern const std::string_view exit_status_help;

// The numbers every option takes, with one set of limits (README "Numbers
// and limits"). A duration of 100 years (fray::never_duration) or more means
// never: these return nullopt for it.
// Seconds, more than 0 (fractions allowed): --timeout, --setup-timeout.
std::optional<std::chrono::milliseconds> seconds_option(ArgReader& args, const std::string& option);
// Days, 0 or more (fractions allowed): --older-than.
std::optional<std::chrono::seconds> days_option(ArgReader& args, const std::string& option);
// A size up to 8 EiB: bytes, or 512M, 10G, 1.5GiB (K, M, G, T, P, E: powers
// of 1024). Zero only with `zero_allowed`.
std::uint64_t size_option(ArgReader& args, const std::string& option, bool zero_allowed);
// A whole number in [minimum, maximum].
int count_option(ArgReader& args, const std::string& option, int minimum, int maximum);
// A number in (0, maximum] (fractions allowed): --cpu.
double positive_option(ArgReader& args, const std::string& option, double maximum);

// --env KEY=VALUE: KEY a portable variable name; with `isolated_env`, not
// one an isolated env refuses (PYTHONHOME, ...). A usage error naming --env.
std::pair<std::string, std::string> env_var_option(ArgReader& args, bool isolated_env);

std::string format_size(std::uintmax_t bytes);

}  // namespace fray::cli
