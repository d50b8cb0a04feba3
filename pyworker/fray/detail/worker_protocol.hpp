// The worker protocol, as the driver speaks it; pyworker/fray_worker.py is
// the other side. A frame is its length (4 bytes), its kind (1 byte), the
// number of the request it is about (8 bytes), and a payload; numbers are
// little-endian.
//
//   driver -> worker   R N json   request N: {"f"|"c"|"m": target, "a": [...], "k": {...}}
//                      Q N json   the same, expected to be short (answers before it may wait a little)
//                      X N        cancel N: dropped if not started, interrupted at the next SIGINT if it runs
//                      W N        give N back if it has not started (ignored once it has)
//   worker -> driver   S N t      N starts now, at t (8 bytes: CLOCK_MONOTONIC nanoseconds)
//                      R N json   N returned this result
//                      E N json   N raised: {"type", "module", "message", "traceback", "lookup", "frame", "json"}
//                      D N        N was dropped before it started (X or W)
//
// N numbers the requests sent to one worker process, from 1 up. A request's
// JSON is built once (encode_request) and framed with its number each time
// it is sent (append_request): a retry goes out as it is. The worker writes
// its frames to a journal (worker_journal.hpp): "N starts" before N runs,
// together with the previous answer, so whatever happens to the worker this
// side knows which calls finished, which one ran and which never started.
//
// JSON past fray/python_json.hpp's limits never crosses: encode_request
// checks the arguments before anything is sent, the worker answers a result
// it cannot write with an error ("json": true), and a result this side
// cannot read (an integer beyond 64 bits, say) fails its call only. None of
// them costs the worker.
#pragma once

#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <variant>

#include "fray/python_args.hpp"

namespace fray::detail {

// A frame's kind and request number, after its length.
inline constexpr std::size_t kFrameHeaderBytes = 9;

// {"<kind>": target, "a": [...], "k": {...}}; kind is "f" (function), "c"
// (actor class) or "m" (actor method). Throws UnsupportedJson when an
// argument cannot cross (check_python_json), FrameTooLarge when the
// numbered request would be over `max_frame_bytes`.
std::string encode_request(char kind, std::string_view target, PackedArgs&& args, std::size_t max_frame_bytes);

// Appends the frame of request `seq` whose JSON is `request` to `out`
// ("Q" if `expected_short`, else "R").
void append_request(std::string& out, std::uint64_t seq, std::string_view request, bool expected_short = false);
// Appends the frame that cancels request `seq`: dropped if it has not
// started, interrupted at the next SIGINT if it runs, ignored if it finished.
void append_cancel(std::string& out, std::uint64_t seq);
// Appends the frame that asks for request `seq` back if it has not started
// (answered "dropped"); ignored once it has.
void append_withdraw(std::string& out, std::uint64_t seq);

// One frame from a worker (without its length).
struct WorkerAnswer {
  enum class Kind { started, finished, dropped, malformed } kind = Kind::malformed;
  std::uint64_t seq = 0;
  std::int64_t started_ns = 0;  // started: when, on CLOCK_MONOTONIC (steady_clock)
  // finished: the result or the error it maps to (PythonError, ...);
  // malformed: why (the worker broke the protocol).
  std::variant<boost::json::value, std::exception_ptr> outcome;
};
WorkerAnswer parse_answer(std::string_view frame);

}  // namespace fray::detail
