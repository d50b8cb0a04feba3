#include "fray/detail/worker_protocol.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>


#include "fray/detail/frame_length.hpp"
#include "fray/detail/python_json_check.hpp"
#include "fray/python_errors.hpp"
#include "fray/python_json.hpp"

namespace fray::detail {

namespace {

// "of m:f", "of method add", as messages name what a call is of.
std::string call_name(char kind, std::string_view target) {
  return kind == 'm' ? fmt::format("of method {}", target) : fmt::format("of {}", target);
}

// Throws UnsupportedJson if any part of the request cannot cross to Python,
// before anything is sent: the worker never reads what it cannot take.
void check_request(char kind, std::string_view target, const PackedArgs& args) {
  if (!is_valid_utf8(target)) {
    throw UnsupportedJson(kind == 'm' ? "the name of the method to call is not valid UTF-8"
                                      : "the name of the Python function or class to call is not valid UTF-8");
  }
  for (std::size_t i = 0; i < args.args.size(); ++i) {
    check_python_json_of(args.args[i], [&] { return fmt::format("argument {} {}", i + 1, call_name(kind, target)); });
  }
  for (const auto& [name, value] : args.kwargs) {
    if (!is_valid_utf8(name)) {
      throw UnsupportedJson(fmt::format("a keyword argument's name {} is not valid UTF-8", call_name(kind, target)));
    }
    check_python_json_of(value, [&, name = std::string_view(name)] {
      return fmt::format("keyword argument '{}' {}", name, call_name(kind, target));
    });
  }
}

}  // namespace

std::string encode_request(char kind, std::string_view target, PackedArgs&& args, std::size_t max_frame_bytes) {
  check_request(kind, target, args);
  boost::json::object request;
  request[std::string_view(&kind, 1)] = target;
  request["a"] = std::move(args.args);
  if (!args.kwargs.empty()) request["k"] = std::move(args.kwargs);
  std::string json = boost::json::serialize(request);
  if (json.size() + kFrameHeaderBytes > max_frame_bytes) {
    throw FrameTooLarge(fmt::format("the call of {} is {} bytes of JSON, over the frame size limit of {} bytes", target,
                                    json.size(), max_frame_bytes));
  }
  return json;
}

namespace {

void append_header(std::string& out, char kind, std::uint64_t seq, std::size_t payload) {
  char header[4 + kFrameHeaderBytes];
  write_frame_length(header, std::uint32_t(kFrameHeaderBytes + payload));
  header[4] = kind;
  for (int i = 0; i < 8; ++i) header[5 + i] = char((seq >> (8 * i)) & 0xFF);
  out.append(header, sizeof header);
}

std::uint64_t read_u64(const char* in) noexcept {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= std::uint64_t(static_cast<unsigned char>(in[i])) << (8 * i);
  return value;
}

}  // namespace

void append_request(std::string& out, std::uint64_t seq, std::string_view request, bool expected_short) {
  append_header(out, expected_short ? 'Q' : 'R', seq, request.size());
  out.append(request);
}

void append_cancel(std::string& out, std::uint64_t seq) { append_header(out, 'X', seq, 0); }
void append_withdraw(std::string& out, std::uint64_t seq) { append_header(out, 'W', seq, 0); }

namespace {

std::exception_ptr error_of(const boost::json::object& e) {
  auto text = [&](const char* key) -> std::string {
    const auto* v = e.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  const auto flag = [&](const char* key) {
    const auto* v = e.if_contains(key);
    return v != nullptr && v->is_bool() && v->as_bool();
  };
  if (flag("json")) return std::make_exception_ptr(UnsupportedJson(text("message")));
  if (flag("frame")) return std::make_exception_ptr(FrameTooLarge(text("message")));
  if (flag("lookup")) {
    return std::make_exception_ptr(
        PythonFunctionNotFound(text("type"), text("module"), text("message"), text("traceback")));
  }
  return std::make_exception_ptr(PythonError(text("type"), text("module"), text("message"), text("traceback")));
}

// A result this side cannot read fails its call only: the frame around
// it was whole, so the protocol still holds and the worker stays.
std::variant<boost::json::value, std::exception_ptr> parse_result(std::string_view payload) {
  try {
    return parse_python_json(payload, "the Python call's result");
  } catch (const UnsupportedJson&) {
    return std::current_exception();
  } catch (const boost::system::system_error& e) {
    return std::make_exception_ptr(UnsupportedJson(e.what()));
  }
}

WorkerAnswer malformed(std::string why) {
  WorkerAnswer answer;
  answer.outcome = std::make_exception_ptr(Error("malformed answer from a Python worker: " + why));
  return answer;
}

}  // namespace

WorkerAnswer parse_answer(std::string_view frame) {
  if (frame.size() < kFrameHeaderBytes) return malformed("a frame too short for its header");
  WorkerAnswer answer;
  answer.seq = read_u64(frame.data() + 1);
  const std::string_view payload = frame.substr(kFrameHeaderBytes);
  try {
    switch (frame[0]) {
      case 'S':
        if (payload.size() != 8) return malformed("an \"S\" frame without its time");
        answer.kind = WorkerAnswer::Kind::started;
        answer.started_ns = std::int64_t(read_u64(payload.data()));
        return answer;
      case 'R':
        answer.kind = WorkerAnswer::Kind::finished;
        answer.outcome = parse_result(payload);
        return answer;
      case 'E': {
        answer.kind = WorkerAnswer::Kind::finished;
        const boost::json::value error = parse_python_json(payload, "a Python call's error");
        if (!error.is_object()) return malformed("an \"E\" frame that is not a JSON object");
        answer.outcome = error_of(error.get_object());
        return answer;
      }
      case 'D':
        answer.kind = WorkerAnswer::Kind::dropped;
        return answer;
      default:
        return malformed(fmt::format("a frame of unknown kind {}", int(static_cast<unsigned char>(frame[0]))));
    }
  } catch (const std::exception& e) {
    return malformed(e.what());
  }
}

}  // namespace fray::detail
