#include "report.hpp"

#include <malloc.h>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <stdexcept>
#include <thread>

#ifndef FRAY_BENCH_BUILD_TYPE
#define FRAY_BENCH_BUILD_TYPE "unknown"
#endif

namespace fray::bench {

namespace {

// Nearest-rank percentile of sorted samples: the smallest sample with at least
// `p` of all samples at or below it.
double percentile(const std::vector<std::int64_t>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1]);
}

void upsert(std::vector<std::pair<std::string, Measurement>>& rows, std::string name, Measurement m) {
  auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& row) { return row.first == name; });
  if (it != rows.end()) {
    it->second = m;
  } else {
    rows.emplace_back(std::move(name), m);
  }
}

const Measurement* find(const std::vector<std::pair<std::string, Measurement>>& rows, const std::string& name) {
  auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& row) { return row.first == name; });
  return it == rows.end() ? nullptr : &it->second;
}

std::string human_ns(const std::optional<double>& ns) {
  if (!ns) return "-";
  const double v = *ns;
  if (v < 1e3) return fmt::format("{:.0f} ns", v);
  if (v < 1e6) return fmt::format("{:.1f} us", v / 1e3);
  if (v < 1e9) return fmt::format("{:.1f} ms", v / 1e6);
  return fmt::format("{:.2f} s", v / 1e9);
}

std::string human_rate(const std::optional<double>& ops) {
  if (!ops) return "-";
  const double v = *ops;
  if (v < 1e3) return fmt::format("{:.1f}", v);
  if (v < 1e6) return fmt::format("{:.1f} k", v / 1e3);
  return fmt::format("{:.2f} M", v / 1e6);
}

std::string human_bytes(const std::optional<double>& bytes) {
  if (!bytes) return "-";
  const double v = *bytes;
  if (v < 1024) return fmt::format("{:.0f} B", v);
  if (v < 1024.0 * 1024) return fmt::format("{:.1f} KiB", v / 1024);
  if (v < 1024.0 * 1024 * 1024) return fmt::format("{:.1f} MiB", v / (1024.0 * 1024));
  return fmt::format("{:.2f} GiB", v / (1024.0 * 1024 * 1024));
}

// How fray compares with its peer, > 1 meaning fray is better; the latency
// comparison wins when both rows have one.
std::string ratio(const Measurement& fray, const Measurement& peer) {
  auto word = [](double better, const char* good, const char* bad) {
    if (!(better > 0) || !std::isfinite(better)) return std::string("-");
    return better >= 1 ? fmt::format("{:.2f}x {}", better, good) : fmt::format("{:.2f}x {}", 1 / better, bad);
  };
  if (fray.p50_ns && peer.p50_ns) return word(*peer.p50_ns / *fray.p50_ns, "faster", "slower");
  if (fray.ops_per_s && peer.ops_per_s) return word(*fray.ops_per_s / *peer.ops_per_s, "faster", "slower");
  if (fray.bytes && peer.bytes) return word(*peer.bytes / *fray.bytes, "smaller", "larger");
  return "-";
}

boost::json::object to_json(const Measurement& m) {
  boost::json::object o;
  if (m.p50_ns) o["p50_ns"] = *m.p50_ns;
  if (m.p99_ns) o["p99_ns"] = *m.p99_ns;
  if (m.ops_per_s) o["ops_per_s"] = *m.ops_per_s;
  if (m.bytes) o["bytes"] = *m.bytes;
  o["n"] = m.n;
  if (!m.p50_reps_ns.empty()) {
    o["p50_reps_ns"] = boost::json::array(m.p50_reps_ns.begin(), m.p50_reps_ns.end());
    o["p50_min_ns"] = *std::min_element(m.p50_reps_ns.begin(), m.p50_reps_ns.end());
    o["p50_max_ns"] = *std::max_element(m.p50_reps_ns.begin(), m.p50_reps_ns.end());
  }
  if (m.driver_rss_bytes) o["driver_rss_bytes"] = *m.driver_rss_bytes;
  if (!m.python.empty()) o["python"] = m.python;
  return o;
}

// "p50 min-max" over the repetitions, or "-".
std::string human_spread(const Measurement& m) {
  if (m.p50_reps_ns.empty()) return "-";
  const auto [lo, hi] = std::minmax_element(m.p50_reps_ns.begin(), m.p50_reps_ns.end());
  return fmt::format("{}-{}", human_ns(*lo), human_ns(*hi));
}

// Whether `a` beats `b` on the figure both have: lower p50, else higher ops/s.
bool stronger(const Measurement& a, const Measurement& b) {
  if (a.p50_ns && b.p50_ns) return *a.p50_ns < *b.p50_ns;
  if (a.ops_per_s && b.ops_per_s) return *a.ops_per_s > *b.ops_per_s;
  return false;
}

// A line of /proc/self/status ("VmRSS:  1234 kB") in bytes, or 0.
double status_bytes(std::string_view key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(key)) return std::strtod(line.c_str() + key.size(), nullptr) * 1024;
  }
  return 0;
}

std::string compiler() {
#if defined(__clang__)
  return __VERSION__;  // "Debian Clang 14.0.6" and the like
#elif defined(__GNUC__)
  return "g++ " __VERSION__;  // __VERSION__ is only "12.2.0" on gcc
#else
  return "unknown";
#endif
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Boost.JSON prints doubles as 3.3E4; fmt's shortest round-trip form reads better.
void write_pretty(std::string& out, const boost::json::value& v, int indent) {
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  switch (v.kind()) {
    case boost::json::kind::object: {
      const auto& o = v.get_object();
      if (o.empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      bool first = true;
      for (const auto& [key, value] : o) {
        if (!first) out += ",\n";
        first = false;
        out += pad + "  " + boost::json::serialize(boost::json::string(key)) + ": ";
        write_pretty(out, value, indent + 1);
      }
      out += "\n" + pad + "}";
      return;
    }
    case boost::json::kind::array: {
      const auto& a = v.get_array();
      out += "[";
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i) out += ", ";
        write_pretty(out, a[i], indent + 1);
      }
      out += "]";
      return;
    }
    case boost::json::kind::double_: {
      const double d = v.get_double();
      out += std::isfinite(d) ? fmt::format("{}", d) : "null";
      return;
    }
    default:
      out += boost::json::serialize(v);
  }
}

}  // namespace

Measurement latency_from_samples(std::vector<std::int64_t> samples_ns) {
  if (samples_ns.empty()) throw std::invalid_argument("latency_from_samples: no samples");
  std::sort(samples_ns.begin(), samples_ns.end());
  Measurement m;
  m.n = samples_ns.size();
  m.p50_ns = percentile(samples_ns, 0.50);
  m.p99_ns = percentile(samples_ns, 0.99);
  const double total = std::accumulate(samples_ns.begin(), samples_ns.end(), 0.0,
                                       [](double acc, std::int64_t s) { return acc + static_cast<double>(s); });
  const double mean = total / static_cast<double>(samples_ns.size());
  if (mean > 0) m.ops_per_s = 1e9 / mean;
  return m;
}

Measurement latency_from_reps(const std::vector<std::vector<std::int64_t>>& reps) {
  std::vector<std::int64_t> all;
  std::vector<double> p50s;
  for (const auto& rep : reps) {
    p50s.push_back(*latency_from_samples(rep).p50_ns);
    all.insert(all.end(), rep.begin(), rep.end());
  }
  Measurement m = latency_from_samples(std::move(all));
  m.p50_reps_ns = std::move(p50s);
  return m;
}

double resident_bytes() { return status_bytes("VmRSS:"); }
double peak_resident_bytes() { return status_bytes("VmHWM:"); }

Measurement throughput(std::uint64_t ops, std::chrono::nanoseconds elapsed) {
  if (elapsed.count() <= 0) throw std::invalid_argument("throughput: elapsed time must be positive");
  Measurement m;
  m.n = ops;
  m.ops_per_s = static_cast<double>(ops) * 1e9 / static_cast<double>(elapsed.count());
  return m;
}

void progress(std::string_view message) {
  std::fprintf(stderr, "fray-bench: %.*s\n", static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

void Report::metric(std::string name, Measurement m) { upsert(metrics_, std::move(name), m); }

std::optional<std::size_t> heap_bytes_in_use() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return std::nullopt;
#else
  return mallinfo2().uordblks;
#endif
}

void Report::peer(std::string name, Measurement m) { upsert(peers_, std::move(name), m); }

void Report::skip(std::string suite, std::string reason) {
  auto [it, inserted] = skipped_.try_emplace(std::move(suite), reason);
  if (!inserted) it->second += "; " + reason;
}

void Report::compare(std::string metric, std::vector<std::string> peers) {
  for (const auto& peer : peers) against_.try_emplace(peer, metric);
  peers_for_[std::move(metric)] = std::move(peers);
}

const std::string* Report::strongest_peer(const std::string& metric) const {
  const auto it = peers_for_.find(metric);
  if (it == peers_for_.end()) return nullptr;
  const std::string* best = nullptr;
  const Measurement* best_m = nullptr;
  for (const auto& name : it->second) {
    const Measurement* m = find(peers_, name);
    if (m != nullptr && (best_m == nullptr || stronger(*m, *best_m))) {
      best = &name;
      best_m = m;
    }
  }
  return best;
}

void Report::print_table(std::FILE* out) const {
  auto line = [out](const std::string& s) { std::fprintf(out, "%s\n", s.c_str()); };
  constexpr auto row = "{:<26} {:>9} {:>9} {:>10} {:>9} {:>9} {:>19}  {:<26} {}";
  constexpr auto peer_row = "{:<26} {:>9} {:>9} {:>10} {:>9} {:>9} {:>19}  {:<26} {}";
  if (metrics_.empty()) {
    line("no fray metrics recorded");
    line("");
  } else {
    line(fmt::format(row, "metric", "p50", "p99", "ops/s", "bytes", "n", "p50 spread", "strongest peer",
                     "fray vs peer"));
    for (const auto& [name, m] : metrics_) {
      std::string peer_name = "-", versus = "-";
      if (const std::string* best = strongest_peer(name)) {
        peer_name = *best;
        versus = ratio(m, *find(peers_, *best));
      } else if (auto it = peers_for_.find(name); it != peers_for_.end() && !it->second.empty()) {
        peer_name = it->second.front();
        versus = "(peer not run)";
      }
      line(fmt::format(row, name, human_ns(m.p50_ns), human_ns(m.p99_ns), human_rate(m.ops_per_s),
                       human_bytes(m.bytes), m.n, human_spread(m), peer_name, versus));
    }
    line("fray vs peer: how many times fray beats the strongest peer of the same operation (by p50 latency when");
    line("both have one, else by ops/s, else by bytes); \"slower\"/\"larger\" when the peer wins. p50 spread:");
    line(fmt::format("the lowest and highest p50 of {} repetitions, each after its own set-up.", kRepetitions));
    line("");
  }
  if (!peers_.empty()) {
    line(fmt::format(peer_row, "peer", "p50", "p99", "ops/s", "bytes", "n", "p50 spread", "against", "notes"));
    for (const auto& [name, m] : peers_) {
      const auto it = against_.find(name);
      std::vector<std::string> notes;
      if (m.driver_rss_bytes) notes.push_back(fmt::format("from a process of {}", human_bytes(m.driver_rss_bytes)));
      if (!m.python.empty()) notes.push_back(fmt::format("with {}", m.python));
      line(fmt::format(peer_row, name, human_ns(m.p50_ns), human_ns(m.p99_ns), human_rate(m.ops_per_s),
                       human_bytes(m.bytes), m.n, human_spread(m), it == against_.end() ? "-" : it->second,
                       fmt::join(notes, "; ")));
    }
    line("");
  }
  if (!skipped_.empty()) {
    line("skipped:");
    for (const auto& [suite, reason] : skipped_) line(fmt::format("  {}: {}", suite, reason));
  }
  std::fflush(out);
}

boost::json::value Report::to_json() const {
  boost::json::object machine;
  machine["cpus"] = std::thread::hardware_concurrency();
  machine["compiler"] = compiler();
  machine["build_type"] = FRAY_BENCH_BUILD_TYPE;
  machine["when"] = utc_now();
  // The bench process's own size when the JSON is written, and its peak
  // (the big-driver metrics hold 4 GiB for a while): its spawn peers run
  // from a small child instead (driver_rss_bytes in their rows).
  machine["bench_rss_bytes"] = resident_bytes();
  machine["bench_peak_rss_bytes"] = peak_resident_bytes();

  boost::json::object metrics, peers, skipped;
  for (const auto& [name, m] : metrics_) {
    boost::json::object metric = bench::to_json(m);
    // The peer it is compared with in the table, for readers of the JSON
    // (bench/plot draws each metric beside it).
    // "peers" lists every peer of the same operation this run measured.
    if (const std::string* best = strongest_peer(name)) metric["peer"] = *best;
    if (auto it = peers_for_.find(name); it != peers_for_.end()) {
      boost::json::array measured;
      for (const auto& peer : it->second) {
        if (find(peers_, peer) != nullptr) measured.emplace_back(peer);
      }
      if (!measured.empty()) metric["peers"] = std::move(measured);
    }
    metrics[name] = std::move(metric);
  }
  for (const auto& [name, m] : peers_) {
    boost::json::object peer = bench::to_json(m);
    if (auto it = against_.find(name); it != against_.end()) peer["against"] = it->second;
    peers[name] = std::move(peer);
  }
  for (const auto& [suite, reason] : skipped_) skipped[suite] = reason;

  boost::json::object root;
  root["machine"] = std::move(machine);
  root["metrics"] = std::move(metrics);
  root["peers"] = std::move(peers);
  root["skipped"] = std::move(skipped);
  return root;
}

void Report::write_json(const std::string& path) const {
  std::string text;
  write_pretty(text, to_json(), 0);
  text += '\n';
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw std::runtime_error(fmt::format("cannot open {} for writing", path));
  file << text;
  file.close();
  if (!file) throw std::runtime_error(fmt::format("cannot write {}", path));
}

}  // namespace fray::bench
