// The CAF peers of bench-contract.md: what a C++ user picks for actors.
// Built against CAF 0.17 when Meson finds it (FRAY_BENCH_HAVE_CAF);
// otherwise each peer is named as skipped, with why.
#include "peers.hpp"

#include <fmt/format.h>

#if FRAY_BENCH_HAVE_CAF
#include <caf/all.hpp>

#include <chrono>
#include <stdexcept>
#endif

namespace fray::bench {

#if FRAY_BENCH_HAVE_CAF

namespace {

using clock = std::chrono::steady_clock;

std::size_t pick(const SuiteOptions& options, std::size_t full, std::size_t quick) {
  return options.quick ? quick : full;
}

// The actor both peers talk to: returns its argument + 1.
caf::behavior adder(caf::event_based_actor*) {
  return {[](int x) { return x + 1; }};
}

// A blocking request from `self`: the reply, or a std::runtime_error.
int request(caf::scoped_actor& self, const caf::actor& actor, int x) {
  int reply = 0;
  self->request(actor, caf::infinite, x)
      .receive([&](int r) { reply = r; },
               [&](caf::error& e) { throw std::runtime_error("CAF request failed: " + caf::to_string(e)); });
  return reply;
}

// CAF's default scheduler: as many threads as cores.
struct CafSystem {
  caf::actor_system_config config;
  caf::actor_system system{config};
};

}  // namespace

void peer_caf_request_roundtrip(Report& report, const SuiteOptions& options) {
  const std::size_t n = pick(options, 200'000, 20'000);
  progress(fmt::format("peer caf_request_roundtrip: {} request(...).receive (CAF {}.{}.{})", n, CAF_MAJOR_VERSION,
                       CAF_MINOR_VERSION, CAF_PATCH_VERSION));
  report.peer("caf_request_roundtrip", repeated_latency([&] {
                CafSystem caf;
                const caf::actor actor = caf.system.spawn(adder);
                caf::scoped_actor self{caf.system};
                int x = 0;
                auto samples = time_each(n / 10 / kRepetitions, n / kRepetitions, [&] {
                  if (request(self, actor, x) != x + 1) throw std::logic_error("CAF actor answered wrong");
                  ++x;
                });
                self->send_exit(actor, caf::exit_reason::user_shutdown);
                return samples;
              }));
}

// Pipelined: every message is sent before any reply is read. They are sent
// from a scoped actor, so the actor replies to each (x + 1) and every reply
// is received: fray's calls return their results too. (One-way anon_send
// with a final request skips the replies and runs about 3x faster here.)
void peer_caf_throughput(Report& report, const SuiteOptions& options) {
  const std::size_t n = pick(options, 1'000'000, 200'000);
  progress(fmt::format("peer caf_throughput: {} pipelined sends, then every reply", n));
  CafSystem caf;
  const caf::actor actor = caf.system.spawn(adder);
  caf::scoped_actor self{caf.system};
  auto round = [&](std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) self->send(actor, static_cast<int>(i));
    long long sum = 0;
    std::size_t received = 0;
    self->receive_for(received, count)([&](int reply) { sum += reply; });
    const auto expected = static_cast<long long>(count) * static_cast<long long>(count + 1) / 2;
    if (sum != expected) throw std::logic_error("CAF replies were lost");
  };
  round(10'000);
  const auto start = clock::now();
  round(n);
  const auto elapsed = clock::now() - start;
  self->send_exit(actor, caf::exit_reason::user_shutdown);
  report.peer("caf_throughput", throughput(n, elapsed));
}

#else

namespace {

void skip_caf(Report& report, std::string_view peer) {
  skip_library_peer(report, "actors-peers", peer, "CAF", "libcaf-dev", "libcaf_core");
}

}  // namespace

void peer_caf_request_roundtrip(Report& report, const SuiteOptions&) { skip_caf(report, "caf_request_roundtrip"); }
void peer_caf_throughput(Report& report, const SuiteOptions&) { skip_caf(report, "caf_throughput"); }

#endif

}  // namespace fray::bench
