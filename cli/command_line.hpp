// The `fray` command line's parsing: options as `--name value` or
// `--name=value`, the env options shared by `run` and `venv create|path`,
// and the usage error (exit status 2) every mistake becomes.
#pragma once

#include <fray/venv.hpp>

#include <cstdint>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
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

// "10G", "512M", "1.5GiB", "100000" (bytes; K, M, G, T are powers of 1024).
std::optional<std::uintmax_t> parse_size(std::string_view text);
std::optional<double> parse_number(std::string_view text);
std::string format_size(std::uintmax_t bytes);

}  // namespace fray::cli
