#include "command_line.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>

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
  --setup-timeout SECONDS  give up building after this long, killing the installer (default: 600)
  --env KEY=VALUE          a variable the env's processes see; repeatable. Not part of the
                           env's key. PYTHONHOME, PYTHONSTARTUP, CONDA_*, RAY_* are refused
  --inherit-env POLICY     what the env's processes inherit from fray's own environment:
                             minimal  PATH, HOME, USER, LOGNAME, LANG, LC_*, TZ, TMPDIR, TERM (default)
                             all      everything but PYTHONHOME, PYTHONSTARTUP, PYTHONPATH, CONDA_*, RAY_*
                             none     nothing
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

std::optional<double> parse_number(std::string_view text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value < 0) return std::nullopt;
  return value;
}

std::optional<std::uintmax_t> parse_size(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) ++digits;
  const auto number = parse_number(text.substr(0, digits));
  if (!number || digits == 0) return std::nullopt;
  std::string unit;
  for (char c : text.substr(digits)) unit += char(std::toupper(static_cast<unsigned char>(c)));
  double scale = 0;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else {
    static constexpr std::string_view units = "KMGT";
    const auto power = units.find(unit.front());
    const std::string_view tail = std::string_view(unit).substr(1);
    if (power == std::string_view::npos || !(tail.empty() || tail == "B" || tail == "IB")) return std::nullopt;
    scale = std::pow(1024.0, double(power + 1));
  }
  return static_cast<std::uintmax_t>(*number * scale);
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
      const std::string text = args.value();
      const auto seconds = parse_number(text);
      if (!seconds || *seconds <= 0) args.fail(fmt::format("--timeout {}: expected a positive number of seconds", text));
      parsed.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*seconds * 1000));
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
    const std::string text = args.value();
    const auto seconds = parse_number(text);
    if (!seconds || *seconds <= 0) args.fail(fmt::format("--setup-timeout {}: expected a positive number of seconds", text));
    venv.setup_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*seconds * 1000));
  } else if (option == "--env") {
    const std::string pair = args.value();
    const auto equals = pair.find('=');
    if (equals == std::string::npos || equals == 0) args.fail(fmt::format("--env {}: expected KEY=VALUE", pair));
    venv.env[pair.substr(0, equals)] = pair.substr(equals + 1);
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
