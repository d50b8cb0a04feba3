#include "command_line.hpp"

#include <fray/byte_size.hpp>
#include <fray/duration_limit.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdlib>

namespace fray::cli {

const std::string_view env_options_help = R"(env options (what the env holds; the same options give the same cached env):
  --package SPEC           a requirement: "numpy>=1.26", "pkg[extra]==1.0", "name @ URL",
                           or the path of a local wheel or sdist; repeatable
  --requirements FILE      a requirements file (pip's format)
  --find-links DIR         a directory (or URL) of wheels and sdists to install from;
                           repeatable. The files' content hashes are part of the env's key
  --index-url URL          the package index (default: pip's or uv's own configuration)
  --extra-index-url URL    another index; repeatable. A password in a URL
                           (https://user:PASS@host/simple) is shown as user:****
  --no-index               use no index: install only from --find-links
  --system-site-packages   let the env see the interpreter's own site-packages
  --python EXE             the interpreter: a name on PATH or a path (default: python3)
  --installer NAME         auto (uv when it is on PATH, else pip), pip or uv (default: auto)
  --setup-timeout SECONDS  give up building after this long, killing the installer (default: 600;
                           100 years or more: never)
  --env KEY=VALUE          a variable the env's processes see; repeatable. Not part of the
                           env's key. KEY is letters, digits and _ (not first a digit);
                           PYTHONHOME, PYTHONSTARTUP, CONDA_*, RAY_* are refused
  --inherit-env POLICY     what the env's processes inherit from fray's own environment:
                             minimal  PATH, HOME, USER, LOGNAME, LANG, LC_*, TZ, TMPDIR, TERM (default)
                             all      everything but PYTHONHOME, PYTHONSTARTUP, PYTHONPATH, CONDA_*, RAY_*
                             none     nothing
)";

const std::string_view exit_status_help = R"(
exit status (the same for every fray command):
  0      success
  1      failure: what was asked for did not succeed (fray venv create's build,
         a job or function failed, no such env or job, an env in use)
  2      usage: a bad command line; the message names the option
  124    a --timeout passed
  125    fray's own error: the env a command or call needs could not be built,
         the cache is unusable (permission denied...), or fray failed
  126    COMMAND was found but cannot run (not executable), as the shell says
  127    COMMAND was not found (or is empty), as the shell says
  128+N  COMMAND was killed by signal N (137: SIGKILL)
)";

std::string ArgReader::take_option() {
  std::string arg = args_[index_++];
  attached_.reset();
  if (arg.starts_with("--")) {
    if (const auto equals = arg.find('='); equals != std::string::npos) {
      attached_ = arg.substr(equals + 1);
      arg.resize(equals);
    }
  }
  option_ = arg;
  return arg;
}

std::string ArgReader::value() {
  if (attached_) {
    std::string value = *attached_;
    attached_.reset();
    return value;
  }
  if (done()) fail(fmt::format("{} needs a value", option_));
  return args_[index_++];
}

void ArgReader::no_value() {
  if (attached_) fail(fmt::format("{} takes no value", option_));
}

std::vector<std::string> ArgReader::rest() {
  std::vector<std::string> rest(args_.begin() + long(std::min(index_, args_.size())), args_.end());
  index_ = args_.size();
  return rest;
}

namespace {

// 100 years, as the options' messages say it.
constexpr double never_days = double(never_duration.count()) / 86400;  // 36525

// A decimal number ("5", "0.25", "1e10"); +inf for one too large for a
// double (1e400) and for "inf". nullopt when it is not a number at all.
std::optional<double> number_of(std::string_view text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (end != text.data() + text.size() || text.empty()) return std::nullopt;
  if (error == std::errc::result_out_of_range) {
    // Overflow or underflow: strtod tells which (HUGE_VAL or about 0).
    const double rough = std::strtod(std::string(text).c_str(), nullptr);
    return std::isinf(rough) ? rough : 0.0;
  }
  if (error != std::errc() || std::isnan(value)) return std::nullopt;
  return value;
}

}  // namespace

std::optional<std::chrono::milliseconds> seconds_option(ArgReader& args, const std::string& option) {
  const std::string text = args.value();
  const auto seconds = number_of(text);
  if (!seconds || !(*seconds > 0)) {
    args.fail(fmt::format("{} {}: expected a number of seconds above 0 (100 years, {}, or more: never)", option, text,
                          never_duration.count()));
  }
  if (*seconds >= double(never_duration.count())) return std::nullopt;
  // Rounded up: a positive timeout never becomes 0 ms (which fires at once).
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(*seconds * 1000)));
}

std::optional<std::chrono::seconds> days_option(ArgReader& args, const std::string& option) {
  const std::string text = args.value();
  const auto days = number_of(text);
  if (!days || !(*days >= 0)) {
    args.fail(fmt::format("{} {}: expected a number of days, 0 or more (100 years, {}, or more: never)", option, text,
                          never_days));
  }
  if (*days >= never_days) return std::nullopt;
  return std::chrono::seconds(static_cast<std::int64_t>(*days * 86400));
}

std::uint64_t size_option(ArgReader& args, const std::string& option, bool zero_allowed) {
  const std::string text = args.value();
  if (byte_size_too_large(text)) {
    args.fail(fmt::format("{} {}: too large; sizes go up to 8E (8 EiB, {} bytes)", option, text, max_byte_size));
  }
  const auto bytes = parse_byte_size(text);
  if (!bytes) args.fail(fmt::format("{} {}: expected a size (bytes, or 512M, 10G, 1.5GiB)", option, text));
  if (*bytes == 0 && !zero_allowed) args.fail(fmt::format("{} {}: expected a size above 0", option, text));
  return *bytes;
}

int count_option(ArgReader& args, const std::string& option, int minimum, int maximum) {
  const std::string text = args.value();
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || value < minimum || value > maximum) {
    args.fail(fmt::format("{} {}: expected a whole number from {} to {}", option, text, minimum, maximum));
  }
  return static_cast<int>(value);
}

double positive_option(ArgReader& args, const std::string& option, double maximum) {
  const std::string text = args.value();
  const auto value = number_of(text);
  if (!value || !(*value > 0) || *value > maximum) {
    args.fail(fmt::format("{} {}: expected a number above 0, at most {}", option, text, maximum));
  }
  return *value;
}

std::pair<std::string, std::string> env_var_option(ArgReader& args, bool isolated_env) {
  const std::string pair = args.value();
  const auto equals = pair.find('=');
  if (equals == std::string::npos || equals == 0) args.fail(fmt::format("--env {}: expected KEY=VALUE", pair));
  std::string name = pair.substr(0, equals);
  const bool portable = !std::isdigit(static_cast<unsigned char>(name.front())) &&
                        std::all_of(name.begin(), name.end(), [](char c) {
                          return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                        });
  if (!portable) {
    args.fail(fmt::format("--env {}: '{}' is not a variable name (letters, digits and _, not first a digit)", pair, name));
  }
  if (isolated_env) {
    if (const std::string problem = env_var_name_problem(name); !problem.empty()) {
      args.fail(fmt::format("--env {}: {}", pair, problem));
    }
  }
  return {std::move(name), pair.substr(equals + 1)};
}

std::string format_size(std::uintmax_t bytes) {
  static constexpr std::string_view units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = double(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

EnvCommandArgs parse_env_command(ArgReader& args) {
  EnvCommandArgs parsed;
  while (!args.done()) {
    if (!args.peek().starts_with("-") || args.peek() == "-") break;
    const std::string option = args.take_option();
    if (option == "--") break;
    if (option == "-h" || option == "--help") {
      parsed.help = true;
      return parsed;
    }
    if (take_env_option(args, option, parsed.venv)) continue;
    if (option == "--timeout") {
      parsed.timeout = seconds_option(args, option);  // nullopt: never
    } else if (option == "--quiet" || option == "-q") {
      args.no_value();
      parsed.quiet = true;
    } else {
      args.fail(fmt::format("unknown option '{}'", option));
    }
  }
  parsed.rest = args.rest();
  return parsed;
}

bool take_env_option(ArgReader& args, const std::string& option, VenvOptions& venv) {
  if (option == "--package") {
    venv.packages.push_back(args.value());
  } else if (option == "--requirements") {
    venv.requirements_file = args.value();
  } else if (option == "--find-links") {
    venv.find_links.push_back(args.value());
  } else if (option == "--index-url") {
    venv.index_url = args.value();
  } else if (option == "--extra-index-url") {
    venv.extra_index_urls.push_back(args.value());
  } else if (option == "--no-index") {
    args.no_value();
    venv.no_index = true;
  } else if (option == "--system-site-packages") {
    args.no_value();
    venv.system_site_packages = true;
  } else if (option == "--python") {
    venv.python = args.value();
    if (venv.python.empty()) args.fail("--python needs an interpreter");
  } else if (option == "--installer") {
    const std::string name = args.value();
    if (name == "auto") {
      venv.installer = Installer::automatic;
    } else if (name == "pip") {
      venv.installer = Installer::pip;
    } else if (name == "uv") {
      venv.installer = Installer::uv;
    } else {
      args.fail(fmt::format("--installer {}: expected auto, pip or uv", name));
    }
  } else if (option == "--setup-timeout") {
    venv.setup_timeout = seconds_option(args, option).value_or(never_duration);
  } else if (option == "--env") {
    auto [name, value] = env_var_option(args, true);
    venv.env[std::move(name)] = std::move(value);
  } else if (option == "--inherit-env") {
    const std::string policy = args.value();
    if (policy == "minimal") {
      venv.inherit_env = InheritEnv::minimal;
    } else if (policy == "all") {
      venv.inherit_env = InheritEnv::all;
    } else if (policy == "none") {
      venv.inherit_env = InheritEnv::none;
    } else {
      args.fail(fmt::format("--inherit-env {}: expected minimal, all or none", policy));
    }
  } else {
    return false;
  }
  return true;
}

}  // namespace fray::cli
