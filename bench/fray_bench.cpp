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
#include <filesystem>
#include <system_error>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace fray::bench;

constexpr std::string_view usage_text = R"(usage: fray-bench [--suite NAME]... [--json FILE] [--quick] [--python EXE] [--help]

Measures fray's scheduling latency, throughput and cost, and the peers a user
would pick instead (oneTBB, CAF, std::async, Asio, Python's multiprocessing,
joblib's loky, Dask, subprocess, venv, pip, fork/exec), in the same run, and
prints each metric beside the strongest peer of the same operation. Progress
goes to stderr, the table to stdout.

options:
  --suite NAME   run one suite; repeat to run several (default: all)
                   all     every suite below, in this order
                   core    tasks on the sync and thread-pool contexts
                           (peers: oneTBB, Asio, std::async)
                   actors  C++ actor calls (peers: CAF, Asio)
                   python  calls into Python workers (peers: loky, Dask,
                           multiprocessing; those a Python lacks run with
                           /usr/bin/python3 when it has them)
                   venv    isolated Python environments
                   jobs    local jobs
                 python and venv also start processes while fray-bench (and
                 then a Python peer) holds 4 GiB: they need that much free
  --json FILE    also write the results as JSON to FILE (docs/bench-contract.md)
  --quick        shorten every suite: `--suite all --quick` ends in under 60 s
  --python EXE   interpreter for the Python peers (a path, or a name looked up
                 on PATH); default: python3 on PATH, resolved to the
                 interpreter it runs; it builds the envs and the probe
                 wheel (with the standard library only)
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
        {"peer tbb_task_group_roundtrip", peer_tbb_task_group_roundtrip},
        {"peer tbb_enqueue_roundtrip", peer_tbb_enqueue_roundtrip},
        {"peer tbb_throughput", peer_tbb_throughput},
        {"peer tbb_nested_roundtrip", peer_tbb_nested_roundtrip},
        {"peer std_async_roundtrip", peer_std_async_roundtrip},
        {"peer asio_post_roundtrip", peer_asio_post_roundtrip},
        {"peer asio_cospawn_throughput", peer_asio_cospawn_throughput},
        {"peer py_threadpool_roundtrip", peer_py_threadpool_roundtrip},
        {"peer py_threadpool_throughput", peer_py_threadpool_throughput}},
       {}},
      {"actors",
       {{"fray actor metrics", run_actors_suite},
        {"peer caf_request_roundtrip", peer_caf_request_roundtrip},
        {"peer caf_throughput", peer_caf_throughput}},
       {}},
      {"python",
       {{"fray python metrics", run_python_suite},
        {"peer py_mp_pool_roundtrip", peer_py_mp_pool_roundtrip},
        {"peer py_mp_pool_throughput", peer_py_mp_pool_throughput},
        {"peer py_loky_roundtrip", peer_py_loky_roundtrip},
        {"peer py_loky_throughput", peer_py_loky_throughput},
        {"peer py_dask_roundtrip and py_dask_throughput", peer_py_dask},
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

// The peers of each metric: the same operation done the way a user would
// otherwise do it. The table and the JSON's "peer" name the strongest one a
// run measured; a peer's "against" is the first metric it is listed for.
void set_contract_peers(Report& report) {
  report.compare("task_roundtrip_pool", {"tbb_task_group_roundtrip", "tbb_enqueue_roundtrip", "asio_post_roundtrip",
                                         "std_async_roundtrip", "py_threadpool_roundtrip"});
  report.compare("task_throughput_pool", {"tbb_throughput", "asio_cospawn_throughput", "py_threadpool_throughput"});
  report.compare("nested_get_roundtrip", {"tbb_nested_roundtrip"});
  report.compare("actor_call_roundtrip_pool", {"caf_request_roundtrip", "asio_post_roundtrip"});
  report.compare("actor_call_roundtrip", {"asio_post_roundtrip"});
  report.compare("actor_call_throughput", {"caf_throughput", "asio_cospawn_throughput"});
  report.compare("actor_call_throughput_sync", {"asio_cospawn_throughput"});
  report.compare("py_call_roundtrip", {"py_loky_roundtrip", "py_dask_roundtrip", "py_mp_pool_roundtrip"});
  report.compare("py_call_throughput", {"py_loky_throughput", "py_dask_throughput", "py_mp_pool_throughput"});
  // A worker runs the env's own interpreter: the base one loads its own
  // site-packages on every start (python_startup), which a worker does not.
  report.compare("py_worker_cold_start", {"py_env_python_startup", "python_startup"});
  report.compare("py_worker_cold_start_big", {"py_env_python_startup", "python_startup"});
  report.compare("job_local_roundtrip", {"process_spawn"});
  // venv_run_true is not in the contract: fray-bench's own baseline for
  // process_spawn_big_driver, the same runs from a small driver.
  report.compare("venv_run_true", {"py_subprocess", "process_spawn"});
  report.compare("process_spawn_big_driver", {"py_subprocess_big"});
  report.compare("venv_build_empty", {"venv_plain"});
  report.compare("venv_build_one_wheel", {"pip_install_one_wheel"});
  report.compare("job_slurm_roundtrip", {"slurm_sbatch_wait"});
}

// This executable, for peers that must run from a small process of their own.
std::string self_executable() {
  std::error_code ec;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : path.string();
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
  // Internal: fray-bench's own child for the spawn peers (peers.hpp).
  if (argc >= 2 && std::string_view(argv[1]) == "--spawn-peer") {
    try {
      return spawn_peer_child(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fray-bench --spawn-peer: %s\n", e.what());
      return 1;
    }
  }
  const Command cmd = parse_command(argc, argv);
  if (cmd.help) {
    std::fputs(usage_text.data(), stdout);
    return 0;
  }

  SuiteOptions options;
  options.quick = cmd.quick;
  options.self_exe = self_executable();
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
