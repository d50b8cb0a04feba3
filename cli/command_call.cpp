#include "command_call.hpp"

#include <fray/python.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include <cctype>
#include <cstdio>
#include <optional>

namespace fray::cli {


namespace {

constexpr std::string_view call_usage =
    "usage: fray call [ENV OPTIONS] [--timeout SECONDS] [--quiet] [--] MODULE:FUNCTION [JSON_ARG | NAME=JSON_ARG]...\n";
constexpr std::string_view call_text = R"(
Builds the env the options describe if it is not cached yet, then calls
MODULE:FUNCTION (e.g. numpy:mean, my_pkg.tools:run) in a fray Python worker of
the env, with each JSON_ARG as a positional argument and each NAME=JSON_ARG
(NAME a Python identifier) as a keyword argument, and prints the result as
JSON on stdout. An argument that is not valid JSON is passed as a string
('[1, 2]' is a list, 42 a number, '"42"' and hello strings; '"a=b"' is the
string a=b, not a keyword). JSON nested deeper than 1000 levels, numbers out
of a double's range (1e400), integers beyond 64 bits and text that is not
UTF-8 are refused (exit status 2), and so is such a result (exit status 1).
For example:
  fray call --package numpy numpy:linspace 0 1 num=5
What the function
prints reaches stderr, each line tagged with its worker. The worker's working
directory is the current one, and is first on sys.path.

)";
static_assert(max_python_json_depth == 1000, "call_text names the depth limit");

constexpr std::string_view call_tail = R"(
call options:
  --timeout SECONDS   kill the worker if the call takes longer (exit status 124);
                      above 0, 100 years or more: never
  --quiet             show no progress while building
  -h, --help          this help

0 with the result printed; 1 when the function raised (its traceback is
printed on stderr), its worker died or its result cannot cross as JSON; 125
when the env could not be built; 2 on a JSON argument fray refuses.
)";

// The JSON of one argument; text that is not JSON is a string. What could
// not reach Python intact (JSON nested too deep, 1e400, an integer beyond
// 64 bits, bytes that are not UTF-8) is a usage error, found before the env
// is built.
boost::json::value argument_of(const ArgReader& args, const std::string& text, const std::string& what) {
  boost::json::value value;
  try {
    try {
      value = parse_python_json(text, what);
    } catch (const boost::system::system_error&) {
      value = boost::json::string(text);  // not JSON
    }
    check_python_json(value, what);
  } catch (const UnsupportedJson& e) {
    args.fail(e.what());
  }
  return value;
}

// "name=..." with a Python identifier before the '=': a keyword argument.
std::optional<std::string_view> keyword_of(std::string_view text) {
  const auto equals = text.find('=');
  if (equals == 0 || equals == std::string_view::npos) return std::nullopt;
  const std::string_view name = text.substr(0, equals);
  if (std::isdigit(static_cast<unsigned char>(name.front()))) return std::nullopt;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return std::nullopt;
  }
  return name;
}

}  // namespace

CallArguments parse_call_arguments(const ArgReader& args, const std::vector<std::string>& words) {
  CallArguments parsed;
  for (const std::string& word : words) {
    if (auto name = keyword_of(word)) {
      if (parsed.kwargs.contains(*name)) args.fail(fmt::format("keyword argument '{}' is given twice", *name));
      parsed.kwargs[*name] = argument_of(args, word.substr(name->size() + 1), fmt::format("keyword argument {}", *name));
    } else if (!parsed.kwargs.empty()) {
      args.fail(fmt::format("positional argument '{}' follows a keyword argument", word));
    } else {
      parsed.args.push_back(argument_of(args, word, fmt::format("argument {}", parsed.args.size() + 1)));
    }
  }
  return parsed;
}

int command_call(ArgReader args) {
  EnvCommandArgs parsed = parse_env_command(args);
  if (parsed.help) {
    fmt::print("{}{}{}{}{}", call_usage, call_text, env_options_help, call_tail, exit_status_help);
    return 0;
  }
  VenvOptions& venv = parsed.venv;
  PythonCallOptions call;
  if (parsed.timeout) call.timeout = *parsed.timeout;
  const bool quiet = parsed.quiet;
  const std::vector<std::string>& rest = parsed.rest;
  if (rest.empty()) args.fail("no MODULE:FUNCTION to call (fray call [OPTIONS] MODULE:FUNCTION [JSON_ARG | NAME=JSON_ARG]...)");
  const std::string function = rest.front();
  if (function.find(':') == std::string::npos) args.fail(fmt::format("'{}' is not MODULE:FUNCTION", function));
  try {
    check_python_json(boost::json::string(function), "MODULE:FUNCTION");  // its bytes must be UTF-8 too
  } catch (const UnsupportedJson& e) {
    args.fail(e.what());
  }
  auto [call_args, call_kwargs] = parse_call_arguments(args, std::vector<std::string>(rest.begin() + 1, rest.end()));

  if (!quiet) {
    auto said = std::make_shared<bool>(false);
    venv.on_progress = [said](std::string_view line) {
      if (*said) return;  // one line: the build has started
      *said = true;
      std::fprintf(stderr, "fray: %.*s\n", int(line.size()), line.data());
    };
  }
  std::optional<IsolatedVirtualEnv> env;
  try {
    env.emplace(std::move(venv));
  } catch (const InvalidOptions& e) {  // what the command line said (an index URL with a space...)
    std::fprintf(stderr, "fray: %s\n", e.what());
    return exit_status::usage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fray: %s\n", e.what());
    return exit_status::fray_error;
  }
  try {
    WorkerPool pool(*env, WorkerPoolOptions{}.with_max_workers(1).with_idle_timeout(std::chrono::milliseconds(0)));
    const boost::json::value result = pool.call_json(call, function, std::move(call_args), std::move(call_kwargs)).get();
    fmt::print("{}\n", boost::json::serialize(result));
    return 0;
  } catch (const PythonError& e) {
    std::fprintf(stderr, "%s\n", e.traceback().empty() ? e.what() : e.traceback().c_str());
    return exit_status::failure;
  } catch (const PythonCallTimeout& e) {
    std::fprintf(stderr, "fray: %s\n", e.what());
    return exit_status::timeout;
  } catch (const std::exception& e) {  // its worker died
    std::fprintf(stderr, "fray: %s\n", e.what());
    return exit_status::failure;
  }
}

}  // namespace fray::cli
