// fray-bench and bench/plot, driven from a shell as a user would: the
// command line, the JSON of bench-contract.md from a real (quick) run, and
// the chart drawn from it. Timings are never asserted, only that every
// figure the contract names is there and makes sense.
#include <boost/json.hpp>

#include <algorithm>
#include <tuple>
#include <vector>

#include "test_support.hpp"
#include "venv_test_support.hpp"

using namespace fray_test;

namespace {

const std::string kFrayBench = FRAY_BUILD_DIR "/bench/fray-bench";
const std::string kPlot = FRAY_SOURCE_DIR "/bench/plot";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// One quick run of every suite, shared by the cases that read its JSON: the
// contract's names come from a real run, with the default interpreter.
const boost::json::object& quick_all_run() {
  static TempDir dir("fray-bench-test-");
  static const boost::json::object json = [] {
    const fs::path out = dir / "all.json";
    const ShellResult run = shell(fmt::format("{} --suite all --quick --json {}", kFrayBench, out.string()));
    if (run.status != 0) throw std::runtime_error("fray-bench failed: " + run.err);
    return boost::json::parse(read_text(out)).as_object();
  }();
  return json;
}

double field(const boost::json::object& section, const char* name, const char* key) {
  const auto* entry = section.if_contains(name);
  REQUIRE_MESSAGE(entry != nullptr, name);
  const auto* value = entry->as_object().if_contains(key);
  REQUIRE_MESSAGE(value != nullptr, name << "." << key);
  return value->to_number<double>();
}

std::string text(const boost::json::object& section, const char* name, const char* key) {
  const auto* entry = section.if_contains(name);
  REQUIRE_MESSAGE(entry != nullptr, name);
  const auto* value = entry->as_object().if_contains(key);
  REQUIRE_MESSAGE(value != nullptr, name << "." << key);
  return std::string(value->as_string());
}

std::string skipped_reason(const boost::json::object& json, const char* area) {
  const auto* reason = json.at("skipped").as_object().if_contains(area);
  return reason == nullptr ? std::string() : std::string(reason->as_string());
}

// A peer the build may lack (oneTBB, CAF, loky, Dask): measured against its
// fray metric, or named as skipped in `area` with the Debian package to get.
void check_optional_peer(const boost::json::object& json, const char* peer, const char* against, const char* field_name,
                         const char* area, const char* package) {
  CAPTURE(peer);
  const auto& peers = json.at("peers").as_object();
  if (peers.if_contains(peer) != nullptr) {
    CHECK(field(peers, peer, field_name) > 0);
    CHECK(text(peers, peer, "against") == against);
  } else {
    const std::string reason = skipped_reason(json, area);
    CHECK(contains(reason, peer));
    CHECK(contains(reason, package));
  }
}

// The p50 of each of the kRepetitions rounds, their min and max.
void check_spread(const boost::json::object& section, const char* name) {
  CAPTURE(name);
  const auto& entry = section.at(name).as_object();
  REQUIRE(entry.if_contains("p50_reps_ns") != nullptr);
  const auto& reps = entry.at("p50_reps_ns").as_array();
  CHECK(reps.size() == 5);
  double lo = 1e300, hi = 0;
  for (const auto& rep : reps) {
    lo = std::min(lo, rep.to_number<double>());
    hi = std::max(hi, rep.to_number<double>());
  }
  CHECK(lo > 0);
  CHECK(entry.at("p50_min_ns").to_number<double>() == lo);
  CHECK(entry.at("p50_max_ns").to_number<double>() == hi);
}

// The metric's "peer" is the strongest of its "peers" (lowest p50, else
// highest ops/s), and every one of them was measured.
void check_strongest_peer(const boost::json::object& json, const char* metric) {
  CAPTURE(metric);
  const auto& metrics = json.at("metrics").as_object();
  const auto& peers = json.at("peers").as_object();
  const auto& entry = metrics.at(metric).as_object();
  REQUIRE(entry.if_contains("peers") != nullptr);
  const std::string best = std::string(entry.at("peer").as_string());
  const bool latency = entry.if_contains("p50_ns") != nullptr;
  const char* key = latency ? "p50_ns" : "ops_per_s";
  const double best_value = field(peers, best.c_str(), key);
  for (const auto& name : entry.at("peers").as_array()) {
    const double value = field(peers, std::string(name.as_string()).c_str(), key);
    CHECK_MESSAGE((latency ? value >= best_value : value <= best_value), name.as_string());
  }
}

// The peers of task_roundtrip_pool, as fray-bench names them.
constexpr const char* kPoolPeers[] = {"tbb_task_group_roundtrip", "tbb_enqueue_roundtrip", "asio_post_roundtrip",
                                      "std_async_roundtrip", "py_threadpool_roundtrip"};

// Whether the default interpreter (python3 on PATH) can import `module`.
bool default_python_has(const char* module) {
  return shell(fmt::format("python3 -I -c 'import {}'", module)).status == 0;
}

}  // namespace

TEST_CASE("fray-bench --help names every suite and option") {
  const ShellResult help = shell(kFrayBench + " --help");
  CHECK(help.status == 0);
  for (const char* text : {"core", "actors", "python", "venv", "jobs", "--json", "--quick", "--python"}) {
    CHECK_MESSAGE(contains(help.out, text), text);
  }
}

TEST_CASE("fray-bench rejects an unknown suite or option with a usage error") {
  const ShellResult suite = shell(kFrayBench + " --suite nonsense");
  CHECK(suite.status == 2);
  CHECK(contains(suite.err, "nonsense"));
  const ShellResult option = shell(kFrayBench + " --fast");
  CHECK(option.status == 2);
  CHECK(contains(option.err, "--fast"));
}

TEST_CASE("a quick run writes every core metric and peer of the contract") {
  const boost::json::object& json = quick_all_run();
  const auto& machine = json.at("machine").as_object();
  CHECK(machine.at("cpus").to_number<int>() >= 1);
  CHECK(!machine.at("compiler").as_string().empty());
  const auto& metrics = json.at("metrics").as_object();
  const auto& peers = json.at("peers").as_object();
  for (const char* name : {"task_roundtrip_sync", "task_roundtrip_pool", "wait_10k", "nested_get_roundtrip"}) {
    CHECK(field(metrics, name, "p50_ns") > 0);
    CHECK(field(metrics, name, "p99_ns") >= field(metrics, name, "p50_ns"));
  }
  CHECK(field(metrics, "task_throughput_pool", "ops_per_s") > 0);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizer's allocator hides the heap: said so, not reported as 0.
  CHECK(metrics.if_contains("task_memory_queued") == nullptr);
  CHECK(contains(skipped_reason(json, "core"), "task_memory_queued"));
#else
  CHECK(field(metrics, "task_memory_queued", "bytes") > 0);
#endif
  for (const char* name : {"std_async_roundtrip", "asio_post_roundtrip"}) CHECK(field(peers, name, "p50_ns") > 0);
  CHECK(field(peers, "asio_cospawn_throughput", "ops_per_s") > 0);
  CHECK(text(peers, "asio_post_roundtrip", "against") == "task_roundtrip_pool");
  CHECK(json.at("skipped").is_object());
}

TEST_CASE("a quick run measures oneTBB and CAF beside the fray metric of the same operation") {
  const boost::json::object& json = quick_all_run();
  check_optional_peer(json, "tbb_task_group_roundtrip", "task_roundtrip_pool", "p50_ns", "core-peers", "libtbb-dev");
  check_optional_peer(json, "tbb_enqueue_roundtrip", "task_roundtrip_pool", "p50_ns", "core-peers", "libtbb-dev");
  check_optional_peer(json, "tbb_throughput", "task_throughput_pool", "ops_per_s", "core-peers", "libtbb-dev");
  check_optional_peer(json, "tbb_nested_roundtrip", "nested_get_roundtrip", "p50_ns", "core-peers", "libtbb-dev");
  check_optional_peer(json, "caf_request_roundtrip", "actor_call_roundtrip_pool", "p50_ns", "actors-peers",
                      "libcaf-dev");
  check_optional_peer(json, "caf_throughput", "actor_call_throughput", "ops_per_s", "actors-peers", "libcaf-dev");
  for (const char* metric : {"task_roundtrip_pool", "task_throughput_pool", "actor_call_roundtrip_pool",
                             "actor_call_throughput"}) {
    check_strongest_peer(json, metric);
  }
  // Its one peer is oneTBB's (skipped, with why, where it is not measured).
  if (json.at("peers").as_object().if_contains("tbb_nested_roundtrip") != nullptr) {
    check_strongest_peer(json, "nested_get_roundtrip");
  }
}

TEST_CASE("a quick run measures loky and Dask, with the interpreter that has them") {
  const boost::json::object& json = quick_all_run();
  const auto& peers = json.at("peers").as_object();
  for (const auto& [module, package, rows] :
       {std::tuple{"joblib", "python3-joblib", std::vector<const char*>{"py_loky_roundtrip", "py_loky_throughput"}},
        std::tuple{"distributed", "python3-distributed",
                   std::vector<const char*>{"py_dask_roundtrip", "py_dask_throughput"}}}) {
    for (const char* row : rows) {
      const bool latency = contains(row, "roundtrip");
      check_optional_peer(json, row, latency ? "py_call_roundtrip" : "py_call_throughput",
                          latency ? "p50_ns" : "ops_per_s", "python-peers", package);
      if (peers.if_contains(row) == nullptr) continue;
      // Run with Debian's interpreter only when the default one lacks the library, and then said so.
      if (default_python_has(module)) {
        CHECK(peers.at(row).as_object().if_contains("python") == nullptr);
      } else {
        CHECK(text(peers, row, "python") == "/usr/bin/python3");
      }
    }
  }
  check_strongest_peer(json, "py_call_roundtrip");
  check_strongest_peer(json, "py_call_throughput");
}

TEST_CASE("latencies that depend on a thread waking report the p50 of each of 5 repetitions") {
  const boost::json::object& json = quick_all_run();
  const auto& metrics = json.at("metrics").as_object();
  const auto& peers = json.at("peers").as_object();
  for (const char* name : {"task_roundtrip_pool", "nested_get_roundtrip", "actor_call_roundtrip_pool", "py_call_roundtrip"}) {
    check_spread(metrics, name);
  }
  for (const char* name : {"asio_post_roundtrip", "py_mp_pool_roundtrip", "py_threadpool_roundtrip"}) {
    check_spread(peers, name);
  }
  for (const char* name : {"tbb_enqueue_roundtrip", "caf_request_roundtrip", "py_loky_roundtrip", "py_dask_roundtrip"}) {
    if (peers.if_contains(name) != nullptr) check_spread(peers, name);
  }
}

TEST_CASE("a worker's cold start is compared with its env's own interpreter starting") {
  const boost::json::object& json = quick_all_run();
  const auto& metrics = json.at("metrics").as_object();
  const auto& peers = json.at("peers").as_object();
  CHECK(field(peers, "py_env_python_startup", "p50_ns") > 0);
  CHECK(text(peers, "py_env_python_startup", "against") == "py_worker_cold_start");
  CHECK(text(metrics, "py_worker_cold_start", "peer") == "py_env_python_startup");
  CHECK(field(peers, "python_startup", "p50_ns") > 0);
}

TEST_CASE("the spawn peers run from a small process, and the machine block says how big the bench grew") {
  const boost::json::object& json = quick_all_run();
  const auto& machine = json.at("machine").as_object();
  const auto& peers = json.at("peers").as_object();
  const double rss = machine.at("bench_rss_bytes").to_number<double>();
  const double peak = machine.at("bench_peak_rss_bytes").to_number<double>();
  CHECK(rss > 0);
  CHECK(peak >= rss);
  // The run held 4 GiB for the big-driver metrics (unless it could not,
  // and said so); the spawn peers' own process is far smaller (a fresh
  // fray-bench).
  if (json.at("metrics").as_object().if_contains("process_spawn_big_driver") != nullptr) {
    CHECK(peak > double(std::size_t{4} << 30));
  } else {
    CHECK(contains(skipped_reason(json, "venv"), "process_spawn_big_driver"));
  }
  for (const char* name : {"process_spawn", "python_startup", "py_env_python_startup"}) {
    CAPTURE(name);
    const double driver = field(peers, name, "driver_rss_bytes");
    CHECK(driver > 0);
    CHECK(driver < double(std::size_t{256} << 20));
  }
}

TEST_CASE("the one-wheel build and its pip peer are measured with the default interpreter, which may lack wheel") {
  const boost::json::object& json = quick_all_run();
  CHECK(field(json.at("metrics").as_object(), "venv_build_one_wheel", "p50_ns") > 0);
  CHECK(field(json.at("peers").as_object(), "pip_install_one_wheel", "p50_ns") > 0);
  CHECK(!contains(skipped_reason(json, "venv"), "venv_build_one_wheel"));
  CHECK(!contains(skipped_reason(json, "venv-peers"), "pip_install_one_wheel"));
}

TEST_CASE("the table shows each metric beside its strongest peer and the spread") {
  const ShellResult run = shell(fmt::format("{} --suite core --quick", kFrayBench));
  REQUIRE_MESSAGE(run.status == 0, run.err);
  CHECK(contains(run.out, "strongest peer"));
  CHECK(contains(run.out, "p50 spread"));
  CHECK(contains(run.out, "against"));
  const auto line_start = run.out.find("\ntask_roundtrip_pool ");
  REQUIRE(line_start != std::string::npos);
  const std::string line = run.out.substr(line_start + 1, run.out.find('\n', line_start + 1) - line_start - 1);
  const bool names_a_peer = std::any_of(
      std::begin(kPoolPeers), std::end(kPoolPeers), [&](const char* peer) { return contains(line, peer); });
  CHECK_MESSAGE(names_a_peer, line);
  CHECK(contains(line, "x faster") != contains(line, "x slower"));
}

TEST_CASE("bench/plot draws the JSON of a run as a PNG chart") {
  quick_all_run();
  TempDir dir("fray-plot-test-");
  const fs::path json = dir / "run.json", png = dir / "chart.png";
  std::ofstream(json) << boost::json::serialize(quick_all_run());
  const ShellResult plot = shell(fmt::format("{} {} --out {}", kPlot, json.string(), png.string()));
  CHECK_MESSAGE(plot.status == 0, plot.err);
  const std::string bytes = read_text(png);
  REQUIRE(bytes.size() > 8);
  CHECK(bytes.substr(1, 3) == "PNG");
}

TEST_CASE("bench/plot says what is wrong with a file that is not fray-bench output") {
  TempDir dir("fray-plot-test-");
  std::ofstream(dir / "list.json") << "[1, 2]";
  std::ofstream(dir / "broken.json") << "{\"metrics\": ";
  const ShellResult list = shell(fmt::format("{} {}", kPlot, (dir / "list.json").string()));
  CHECK(list.status == 1);
  CHECK(contains(list.err, "not fray-bench output"));
  const ShellResult broken = shell(fmt::format("{} {}", kPlot, (dir / "broken.json").string()));
  CHECK(broken.status == 1);
  CHECK(contains(broken.err, "not JSON"));
  const ShellResult missing = shell(fmt::format("{} {}", kPlot, (dir / "missing.json").string()));
  CHECK(missing.status == 1);
  CHECK(contains(missing.err, "cannot read"));
  CHECK(!fs::exists(dir / "list.png"));
}

TEST_CASE("bench/plot without gnuplot says which package it needs and draws nothing") {
  TempDir dir("fray-plot-test-");
  // A PATH holding python3 and nothing else.
  fs::create_directory(dir / "bin");
  fs::create_symlink(kSystemPython, dir / "bin" / "python3");
  std::ofstream(dir / "run.json") << boost::json::serialize(quick_all_run());
  const ShellResult plot =
      shell(fmt::format("PATH={} {} {}", (dir / "bin").string(), kPlot, (dir / "run.json").string()));
  CHECK(plot.status == 3);
  CHECK(contains(plot.err, "gnuplot-nox"));
  CHECK(!fs::exists(dir / "run.png"));
}
