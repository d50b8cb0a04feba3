// What a fray-bench run measured: one Measurement per metric or peer, the
// suites it skipped, and how to print them as a table or as the JSON of
// docs/bench-contract.md.
#pragma once

#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fray::bench {

// Only the fields that apply to a measurement are set; the JSON omits the rest.
struct Measurement {
  std::optional<double> p50_ns, p99_ns, ops_per_s, bytes;
  std::uint64_t n = 0;  // operations (or runs) the figures are taken over
  // The p50 of each repetition, for latencies that depend on a thread
  // waking: their spread tells noise from change (JSON: p50_reps_ns,
  // p50_min_ns, p50_max_ns).
  std::vector<double> p50_reps_ns;
  // The resident set of the process the operation was started from, for
  // peers that start processes (a fork's cost grows with it).
  std::optional<double> driver_rss_bytes;
  // The interpreter a Python peer ran with, when it is not the default one.
  std::string python;
};

// Repetitions of each latency with a spread: each one after its own set-up.
inline constexpr std::size_t kRepetitions = 5;

struct SuiteOptions {
  bool quick = false;  // shorten every suite (--quick)
  std::string python;  // interpreter for Python peers; empty if none was found
  std::string self_exe;  // fray-bench itself, for peers measured from a small child
};

// p50/p99 by nearest rank over the sorted samples, ops_per_s = 1e9 / mean,
// n = number of samples. Throws std::invalid_argument if `samples_ns` is empty.
Measurement latency_from_samples(std::vector<std::int64_t> samples_ns);

// latency_from_samples over all repetitions together, with the p50 of each
// one in p50_reps_ns. Throws std::invalid_argument if any is empty.
Measurement latency_from_reps(const std::vector<std::vector<std::int64_t>>& reps);

// Runs `one_rep()` (its own set-up, warm-up and timed samples)
// kRepetitions times; latency_from_reps of what they return.
template <class F>
Measurement repeated_latency(F&& one_rep) {
  std::vector<std::vector<std::int64_t>> reps;
  for (std::size_t i = 0; i < kRepetitions; ++i) reps.push_back(one_rep());
  return latency_from_reps(reps);
}

// This process's resident set (VmRSS) and its peak (VmHWM) in bytes, or 0.
double resident_bytes();
double peak_resident_bytes();

// ops_per_s = ops / elapsed, n = ops. Throws std::invalid_argument if
// `elapsed` is not positive.
Measurement throughput(std::uint64_t ops, std::chrono::nanoseconds elapsed);

// Calls `op` `warmup` times untimed, then `n` times, timing each call alone
// with steady_clock. Returns the n durations in nanoseconds.
template <class F>
std::vector<std::int64_t> time_each(std::size_t warmup, std::size_t n, F&& op) {
  using clock = std::chrono::steady_clock;
  for (std::size_t i = 0; i < warmup; ++i) op();
  std::vector<std::int64_t> samples;
  samples.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto start = clock::now();
    op();
    const auto stop = clock::now();
    samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count());
  }
  return samples;
}

// Bytes the heap has handed out (glibc's mallinfo2), or nullopt in
// sanitizer builds, whose allocators mallinfo2 does not see.
std::optional<std::size_t> heap_bytes_in_use();
inline constexpr std::string_view kHeapInvisible =
    "a sanitizer build's allocator is invisible to mallinfo2 (use a release build)";

// One line on stderr ("fray-bench: <message>"), so a slow run shows where it is.
void progress(std::string_view message);

class Report {
 public:
  // Recording a name again replaces the earlier measurement.
  void metric(std::string name, Measurement m);
  void peer(std::string name, Measurement m);
  // Recording a suite again appends the reason ("first; second").
  void skip(std::string suite, std::string reason);
  // The peers a metric is compared with, the same operation done another
  // way; the table and the JSON's "peer" name the strongest one this run
  // measured (lowest p50, else highest ops/s). Each peer's "against" is the
  // first metric it was named for. May be called before any is recorded.
  void compare(std::string metric, std::vector<std::string> peers);
  // The strongest of a metric's peers that this run measured, or nullptr.
  const std::string* strongest_peer(const std::string& metric) const;

  // Metrics with their strongest peer and "N.NNx faster/slower" (fray
  // relative to the peer: peer p50 / fray p50 when both have a p50, else
  // fray ops/s / peer ops/s, else peer bytes / fray bytes as
  // "smaller/larger"), then all peers, then the skipped suites.
  void print_table(std::FILE* out) const;
  // {"machine": {...}, "metrics": {...}, "peers": {...}, "skipped": {...}}
  boost::json::value to_json() const;
  // Writes to_json() to `path`, indented. Throws std::runtime_error on failure.
  void write_json(const std::string& path) const;

  const std::vector<std::pair<std::string, Measurement>>& metrics() const { return metrics_; }
  const std::vector<std::pair<std::string, Measurement>>& peers() const { return peers_; }
  const std::map<std::string, std::string>& skipped() const { return skipped_; }

 private:
  std::vector<std::pair<std::string, Measurement>> metrics_;  // in recording order
  std::vector<std::pair<std::string, Measurement>> peers_;
  std::map<std::string, std::string> skipped_;
  std::map<std::string, std::vector<std::string>> peers_for_;  // metric -> its peers
  std::map<std::string, std::string> against_;                 // peer -> its metric
};

}  // namespace fray::bench
