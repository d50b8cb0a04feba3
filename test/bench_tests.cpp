// fray-bench and bench/plot, driven from a shell as a user would: the
// command line, the JSON of bench-contract.md from a real (quick) run, and
// the chart drawn from it. Timings are never asserted, only that every
// figure the contract names is there and makes sense.
#include <boost/json.hpp>

#include "test_support.hpp"
#include "venv_test_support.hpp"

using namespace fray_test;

namespace {

const std::string kFrayBench = FRAY_BUILD_DIR "/bench/fray-bench";
const std::string kPlot = FRAY_SOURCE_DIR "/bench/plot";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// One quick core run, shared by the cases that read its JSON.
const boost::json::object& quick_core_run() {
  static TempDir dir("fray-bench-test-");
  static const boost::json::object json = [] {
    const fs::path out = dir / "core.json";
    const ShellResult run = shell(fmt::format("{} --suite core --quick --json {}", kFrayBench, out.string()));
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

TEST_CASE("a quick core run writes every core metric and peer of the contract") {
  const boost::json::object& json = quick_core_run();
  const auto& machine = json.at("machine").as_object();
  CHECK(machine.at("cpus").to_number<int>() >= 1);
  CHECK(!machine.at("compiler").as_string().empty());
  const auto& metrics = json.at("metrics").as_object();
  const auto& peers = json.at("peers").as_object();
  for (const char* name : {"task_roundtrip_sync", "task_roundtrip_pool", "wait_10k"}) {
    CHECK(field(metrics, name, "p50_ns") > 0);
    CHECK(field(metrics, name, "p99_ns") >= field(metrics, name, "p50_ns"));
  }
  CHECK(field(metrics, "task_throughput_pool", "ops_per_s") > 0);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizer's allocator hides the heap: said so, not reported as 0.
  CHECK(metrics.if_contains("task_memory_queued") == nullptr);
  CHECK(contains(std::string(json.at("skipped").at("core").as_string()), "task_memory_queued"));
#else
  CHECK(field(metrics, "task_memory_queued", "bytes") > 0);
#endif
  for (const char* name : {"std_async_roundtrip", "asio_post_roundtrip"}) CHECK(field(peers, name, "p50_ns") > 0);
  CHECK(field(peers, "asio_cospawn_throughput", "ops_per_s") > 0);
  // Each metric names the peer it is compared with.
  CHECK(metrics.at("task_roundtrip_pool").as_object().at("peer").as_string() == "asio_post_roundtrip");
  CHECK(json.at("skipped").is_object());
}

TEST_CASE("bench/plot draws the JSON of a run as a PNG chart") {
  quick_core_run();
  TempDir dir("fray-plot-test-");
  const fs::path json = dir / "run.json", png = dir / "chart.png";
  std::ofstream(json) << boost::json::serialize(quick_core_run());
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
  std::ofstream(dir / "run.json") << boost::json::serialize(quick_core_run());
  const ShellResult plot =
      shell(fmt::format("PATH={} {} {}", (dir / "bin").string(), kPlot, (dir / "run.json").string()));
  CHECK(plot.status == 3);
  CHECK(contains(plot.err, "gnuplot-nox"));
  CHECK(!fs::exists(dir / "run.png"));
}
