// fray-bench: runs the suites of docs/bench-contract.md and the peers beside
// them, prints a table and optionally writes the JSON.
#include "peers.hpp"
#include "report.hpp"
#include "suites.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace fray::bench;

constexpr std::string_view usage_text = R"(usage: fray-bench [--suite NAME]... [--json FILE] [--quick] [--python EXE] [--help]

Measures fray's scheduling latency, throughput and cost, and the peers a user
would pick instead (std::async, Asio, Python pools and subprocess, venv, pip,
fork/exec), in the same run. Progress goes to stderr, the table to stdout.

options:
  --suite NAME   run one suite; repeat to run several (default: all)
                   all     every suite below, in this order
                   core    tasks on the sync and thread-pool contexts
                   actors  C++ actor calls
                   python  calls into Python workers
                   venv    isolated Python environments
                   jobs    local jobs
                 python and venv also start processes while fray-bench (and
                 then a Python peer) holds 4 GiB: they need that much free
  --json FILE    also write the results as JSON to FILE (docs/bench-contract.md)
  --quick        shorten every suite: `--suite all --quick` ends in under 60 s
  --python EXE   interpreter for the Python peers (a path, or a name looked up
                 on PATH); default: python3 on PATH, resolved to the
                 interpreter it runs
  --help         print this help and exit

exit status: 0 when every suite ran, 1 when one could not (the reason is on
stderr), 2 on a bad command line.
)";

using Run = void (*)(Report&, const SuiteOptions&);

struct Step {
  std::string_view name;
  Run run;
};

struct Suite {
  std::string_view name;
  std::vector<Step> steps;
  std::string_view not_built;  // non-empty while fray's part of the suite is missing
};

std::vector<Suite> all_suites() {
  return {
      {"core",
       {{"fray core metrics", run_core_suite},
        {"peer std_async_roundtrip", peer_std_async_roundtrip},
        {"peer asio_post_roundtrip", peer_asio_post_roundtrip},
        {"peer asio_cospawn_throughput", peer_asio_cospawn_throughput},
        {"peer py_threadpool_roundtrip", peer_py_threadpool_roundtrip},
        {"peer py_threadpool_throughput", peer_py_threadpool_throughput}},
       {}},
      {"actors", {{"fray actor metrics", run_actors_suite}}, {}},
      {"python",
       {{"fray python metrics", run_python_suite},
        {"peer py_mp_pool_roundtrip", peer_py_mp_pool_roundtrip},
        {"peer py_mp_pool_throughput", peer_py_mp_pool_throughput},
        {"peer python_startup", peer_python_startup}},
       {}},
      {"venv",
       {{"fray venv metrics", run_venv_suite},
        {"peer py_subprocess", peer_py_subprocess},
        {"peer py_subprocess_big", peer_py_subprocess_big},
        {"peer venv_plain", peer_venv_plain},
        {"peer pip_install_one_wheel", peer_pip_install_one_wheel}},
       {}},
      {"jobs", {{"fray jobs metrics", run_jobs_suite}, {"peer process_spawn", peer_process_spawn}}, {}},
  };
}

// Which peer each contract metric is compared against in the table; a suite
// may override with report.set_peer_for.
void set_contract_peers(Report& report) {
  report.set_peer_for("task_roundtrip_pool", "asio_post_roundtrip");
  report.set_peer_for("task_throughput_pool", "asio_cospawn_throughput");
  report.set_peer_for("actor_call_roundtrip", "asio_post_roundtrip");
  report.set_peer_for("actor_call_throughput", "asio_cospawn_throughput");
  report.set_peer_for("py_call_roundtrip", "py_mp_pool_roundtrip");
  report.set_peer_for("py_call_throughput", "py_mp_pool_throughput");
  report.set_peer_for("py_worker_cold_start", "python_startup");
  report.set_peer_for("py_worker_cold_start_big", "python_startup");
  // venv_run_true is not in the contract: fray-bench's own baseline for
  // process_spawn_big_driver, the same runs from a small driver.
  report.set_peer_for("venv_run_true", "py_subprocess");
  report.set_peer_for("process_spawn_big_driver", "py_subprocess_big");
  report.set_peer_for("venv_build_empty", "venv_plain");
  report.set_peer_for("venv_build_one_wheel", "pip_install_one_wheel");
  report.set_peer_for("job_local_roundtrip", "process_spawn");
  report.set_peer_for("job_slurm_roundtrip", "slurm_sbatch_wait");
}

struct Command {
  std::vector<std::string> suites;
  std::string json_path;
  bool quick = false;
  std::string python;
  bool help = false;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "fray-bench: %s (see --help)\n", message.c_str());
  std::exit(2);
}

Command parse_command(int argc, char** argv) {
  Command cmd;
  const auto suites = all_suites();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    bool has_value = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
      has_value = true;
    }
    auto take_value = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", arg));
      return argv[++i];
    };
    auto no_value = [&] {
      if (has_value) usage_error(fmt::format("{} takes no value", arg));
    };
    if (arg == "--help" || arg == "-h") {
      no_value();
      cmd.help = true;
    } else if (arg == "--quick") {
      no_value();
      cmd.quick = true;
    } else if (arg == "--suite") {
      const std::string name = take_value();
      const bool known = name == "all" || std::any_of(suites.begin(), suites.end(),
                                                      [&](const Suite& s) { return s.name == name; });
      if (!known) usage_error(fmt::format("unknown suite '{}' (all, core, actors, python, venv or jobs)", name));
      cmd.suites.push_back(name);
    } else if (arg == "--json") {
      cmd.json_path = take_value();
      if (cmd.json_path.empty()) usage_error("--json needs a file name");
    } else if (arg == "--python") {
      cmd.python = take_value();
      if (cmd.python.empty()) usage_error("--python needs an interpreter");
    } else {
      usage_error(fmt::format("unknown option '{}'", argv[i]));
    }
  }
  return cmd;
}

// The suites to run, in contract order, each once.
std::vector<Suite> selected_suites(const std::vector<std::string>& names) {
  std::vector<Suite> picked;
  for (auto& suite : all_suites()) {
    const bool wanted = names.empty() || std::any_of(names.begin(), names.end(), [&](const std::string& n) {
                          return n == "all" || n == suite.name;
                        });
    if (wanted) picked.push_back(std::move(suite));
  }
  return picked;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const Command cmd = parse_command(argc, argv);
  if (cmd.help) {
    std::fputs(usage_text.data(), stdout);
    return 0;
  }

  SuiteOptions options;
  options.quick = cmd.quick;
  if (!cmd.python.empty()) {
    options.python = resolve_python(cmd.python);
    if (options.python.empty()) usage_error(fmt::format("--python {}: no such executable", cmd.python));
  } else {
    options.python = default_python();
  }
  progress(options.python.empty() ? "no python3 on PATH: the Python peers will be skipped"
                                  : fmt::format("Python peers use {}", options.python));

  Report report;
  set_contract_peers(report);
  std::vector<std::string> failures;
  const auto run_start = std::chrono::steady_clock::now();
  for (const Suite& suite : selected_suites(cmd.suites)) {
    const auto suite_start = std::chrono::steady_clock::now();
    progress(fmt::format("suite {}{}", suite.name, cmd.quick ? " (quick)" : ""));
    if (!suite.not_built.empty()) report.skip(std::string(suite.name), fmt::format("fray metrics not built yet: {}", suite.not_built));
    for (const Step& step : suite.steps) {
      try {
        step.run(report, options);
      } catch (const std::exception& e) {
        failures.push_back(fmt::format("suite {}: {} failed: {}", suite.name, step.name, e.what()));
        progress(failures.back());
      } catch (...) {
        failures.push_back(fmt::format("suite {}: {} failed with an unknown exception", suite.name, step.name));
        progress(failures.back());
      }
    }
    progress(fmt::format("suite {} done in {:.1f} s", suite.name, seconds_since(suite_start)));
  }
  progress(fmt::format("all done in {:.1f} s", seconds_since(run_start)));

  std::fputs("\n", stdout);
  report.print_table(stdout);

  if (!cmd.json_path.empty()) {
    try {
      report.write_json(cmd.json_path);
      progress(fmt::format("wrote {}", cmd.json_path));
    } catch (const std::exception& e) {
      failures.push_back(fmt::format("--json: {}", e.what()));
    }
  }

  if (!failures.empty()) {
    std::fprintf(stderr, "fray-bench: %zu failure(s):\n", failures.size());
    for (const auto& f : failures) std::fprintf(stderr, "  %s\n", f.c_str());
    return 1;
  }
  return 0;
}
