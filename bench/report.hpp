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
};

struct SuiteOptions {
  bool quick = false;  // shorten every suite (--quick)
  std::string python;  // interpreter for Python peers; empty if none was found
};

// p50/p99 by nearest rank over the sorted samples, ops_per_s = 1e9 / mean,
// n = number of samples. Throws std::invalid_argument if `samples_ns` is empty.
Measurement latency_from_samples(std::vector<std::int64_t> samples_ns);

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
  // The peer row a metric's ratio column is computed against. May be called
  // before either is recorded; a missing peer leaves the ratio empty.
  void set_peer_for(std::string metric, std::string peer);

  // Metrics with their peer and "N.NNx faster/slower" (fray relative to the
  // peer: peer p50 / fray p50 when both have a p50, else fray ops/s / peer
  // ops/s, else peer bytes / fray bytes as "smaller/larger"), then all peers,
  // then the skipped suites.
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
  std::map<std::string, std::string> peer_for_;
};

}  // namespace fray::bench
