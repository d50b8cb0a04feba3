// JSON arguments and results across the worker protocol: any JSON value a
// user passes (here: whatever Boost.JSON accepts of the input) is either
// refused with UnsupportedJson before it is sent, or crosses intact: the
// request frame decodes to the same value, and so does a result frame
// carrying it (bit-exact floats included).
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <limits>
#include <string>

#include "fray/detail/worker_protocol.hpp"
#include "fray/python_errors.hpp"
#include "fray/python_json.hpp"

#include "fuzz_target.hpp"

namespace json = boost::json;

namespace {

std::string numbered_frame(char kind, std::string_view payload) {
  std::string frame(1, kind);
  frame.append(8, '\x01');
  frame.append(payload);
  return frame;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  json::parse_options deep;
  deep.max_depth = 2 * fray::max_python_json_depth;  // past the limit too: those must be refused
  boost::system::error_code ec;
  json::value value = json::parse(fray::fuzz::text_of(data, size), ec, {}, deep);
  if (ec) return 0;

  try {
    fray::check_python_json(value, "argument 1");
  } catch (const fray::UnsupportedJson&) {
    return 0;  // refused before it is sent, as a pool's call does
  }
  fray::detail::PackedArgs args;
  args.args.push_back(value);
  std::string request;
  try {
    request = fray::detail::encode_request('f', "module:function", std::move(args), std::numeric_limits<std::size_t>::max());
  } catch (const fray::Error&) {
    return 0;  // refused, with a typed error
  }
  // Read back as exactly as Python reads it (Boost.JSON 1.81's own parser
  // can be a unit in the last place off for a float).
  json::value sent;
  try {
    sent = fray::parse_python_json(request, "the request");
  } catch (const std::exception&) {
    fray::fuzz::property_broken("a request frame fray built is not JSON it can read");
  }
  if (!sent.is_object() || sent.as_object().at("a").as_array().at(0) != value) {
    fray::fuzz::property_broken("an argument did not cross the request frame intact");
  }

  const std::string result = numbered_frame('R', json::serialize(value));
  const fray::detail::WorkerAnswer answer = fray::detail::parse_answer(result);
  if (answer.kind != fray::detail::WorkerAnswer::Kind::finished) {
    fray::fuzz::property_broken("a result that went out as an argument cannot come back");
  }
  {
    const auto* decoded = std::get_if<json::value>(&answer.outcome);
    if (decoded == nullptr) {
      // Refused on the way back: must be one of fray's errors, saying why.
      try {
        std::rethrow_exception(std::get<std::exception_ptr>(answer.outcome));
      } catch (const fray::Error&) {
      }
    } else if (*decoded != value) {
      fray::fuzz::property_broken("a result did not cross the answer frame intact");
    }
  }
  return 0;
}
