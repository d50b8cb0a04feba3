#include "fray/python_json.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "fray/detail/python_json_check.hpp"
#include "fray/python_errors.hpp"

namespace fray {

namespace detail {

// Unicode's table 3-7, byte by byte.
bool is_valid_utf8(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p != end) {
    // ASCII, eight bytes at a time: most text is.
    std::uint64_t word;
    while (end - p >= 8 && (std::memcpy(&word, p, 8), (word & 0x8080808080808080ULL) == 0)) p += 8;
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int more = 0;
    unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      more = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      more = 2;
      if (c == 0xE0) low = 0xA0;   // overlong below U+0800
      if (c == 0xED) high = 0x9F;  // U+D800..U+DFFF, the surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      more = 3;
      if (c == 0xF0) low = 0x90;   // overlong below U+10000
      if (c == 0xF4) high = 0x8F;  // past U+10FFFF
    } else {
      return false;
    }
    if (end - p <= more) return false;
    if (p[1] < low || p[1] > high) return false;
    for (int i = 2; i <= more; ++i) {
      if (p[i] < 0x80 || p[i] > 0xBF) return false;
    }
    p += more + 1;
  }
  return true;
}

}  // namespace detail

namespace json = boost::json;
using detail::is_valid_utf8;

namespace {

const std::string& too_deep() {
  static const std::string text = fmt::format(
      "nested deeper than {} levels of arrays and objects (fray::max_python_json_depth)", max_python_json_depth);
  return text;
}

// A key as a JSON Pointer token ("~" and "/" escaped), its bytes shown as
// \xNN where it is not UTF-8, so the message itself is text.
std::string pointer_token(std::string_view key) {
  const bool valid = is_valid_utf8(key);
  std::string token;
  for (char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '~') {
      token += "~0";
    } else if (c == '/') {
      token += "~1";
    } else if (byte < 0x20 || (!valid && byte >= 0x80)) {
      token += fmt::format("\\x{:02x}", byte);
    } else {
      token += c;
    }
  }
  return token;
}

// An array or object on the way down, and which of its elements is being
// looked at (the one before `next`).
struct Level {
  const json::value* container;
  std::size_t next = 0;
};

// Where the element being looked at is, as a JSON Pointer ("/a/1"); a long
// one keeps its head and tail.
std::string pointer_of(const std::vector<Level>& levels) {
  constexpr std::size_t head = 3, tail = 6;
  std::string pointer;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    if (levels.size() > head + tail && i == head) {
      pointer += fmt::format("/...({} levels)...", levels.size() - head - tail);
      i = levels.size() - tail;
    }
    const Level& level = levels[i];
    const std::size_t at = level.next - 1;
    if (level.container->is_array()) {
      pointer += fmt::format("/{}", at);
    } else {
      pointer += '/';
      pointer += pointer_token((level.container->as_object().begin() + std::ptrdiff_t(at))->key());
    }
  }
  return pointer;
}

// What a refusal's message names, made when it is needed.
struct Subject {
  detail::DescribeJson describe;
  const void* context;
  std::string operator()() const { return describe(context); }
};

[[noreturn]] void refuse(const Subject& what, const std::vector<Level>& levels, std::string_view problem) {
  const std::string where = levels.empty() ? std::string() : " at " + pointer_of(levels);
  throw UnsupportedJson(fmt::format("{}{}: {}", what(), where, problem));
}

// The next element to look at below `levels`, or null when all were seen.
// Object keys are checked on the way.
const json::value* next_element(std::vector<Level>& levels, const Subject& what) {
  while (!levels.empty()) {
    Level& level = levels.back();
    if (const json::array* array = level.container->if_array()) {
      if (level.next < array->size()) return &(*array)[level.next++];
    } else {
      const json::object& object = level.container->get_object();
      if (level.next < object.size()) {
        const json::key_value_pair& member = *(object.begin() + std::ptrdiff_t(level.next++));
        if (!is_valid_utf8(member.key())) refuse(what, levels, "a key that is not valid UTF-8");
        return &member.value();
      }
    }
    levels.pop_back();
  }
  return nullptr;
}

}  // namespace

void check_python_json(const json::value& value, std::string_view what) {
  detail::check_python_json_of(value, [what] { return std::string(what); });
}

void detail::check_python_json(const json::value& value, DescribeJson describe, const void* context) {
  const Subject what{describe, context};
  // A loop with its own stack, not a recursion: the value may be deep.
  std::vector<Level> levels;
  for (const json::value* at = &value; at != nullptr; at = next_element(levels, what)) {
    switch (at->kind()) {
      case json::kind::double_:
        if (!std::isfinite(at->get_double())) {
          refuse(what, levels,
                 fmt::format("{} is not finite (JSON has no NaN or infinity)", at->get_double()));
        }
        break;
      case json::kind::string:
        if (!is_valid_utf8(at->get_string())) refuse(what, levels, "a string that is not valid UTF-8");
        break;
      case json::kind::array:
      case json::kind::object:
        if (levels.size() >= max_python_json_depth) refuse(what, {}, too_deep());
        levels.push_back(Level{at});
        break;
      default:
        break;
    }
  }
}

namespace {

// json::parser's handler (boost/json/detail/handler.hpp), with what
// json::parse lets through refused: an integer literal too large for 64
// bits (which Boost.JSON 1.81 turns into a double, silently rounded) and a
// number out of double's range (1e400 becomes infinity).
class CheckedHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  CheckedHandler(json::storage_ptr storage, unsigned char* buffer, std::size_t size)
      : stack(std::move(storage), buffer, size) {}

  json::value_stack stack;
  // Set when a number was refused: why.
  std::optional<std::string> refusal;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) { stack.push_object(n); return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) { stack.push_array(n); return true; }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) { stack.push_chars(s); return true; }
  bool on_key(json::string_view s, std::size_t, json::error_code&) { stack.push_key(s); return true; }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) { stack.push_chars(s); return true; }
  bool on_string(json::string_view s, std::size_t, json::error_code&) { stack.push_string(s); return true; }
  // A number split across buffers comes in parts: keep its text.
  bool on_number_part(json::string_view s, json::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    number_.clear();
    stack.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    number_.clear();
    stack.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code& ec) {
    // The literal is `s` unless it came in parts (then number_ holds the rest).
    const bool integer = s.find_first_of(".eE") == json::string_view::npos &&
                         number_.find_first_of(".eE") == std::string::npos;
    if (BOOST_JSON_LIKELY(!integer && std::isfinite(d))) {
      stack.push_double(correctly_rounded(d, s));
      number_.clear();
      return true;
    }
    number_.append(s.data(), s.size());
    if (integer) {
      refusal = fmt::format("an integer beyond 64 bits ({}): integers cross as int64 or uint64 (pass a string or a "
                            "float instead)",
                            shortened(number_));
    } else {
      refusal = fmt::format("{} is past a double's range, so not finite (JSON has no infinity)", shortened(number_));
    }
    ec = json::error::exception;  // any error stops the parse; `refusal` says which
    return false;
  }
  bool on_bool(bool b, json::error_code&) { stack.push_bool(b); return true; }
  bool on_null(json::error_code&) { stack.push_null(); return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  // Boost.JSON 1.81 can be a unit in the last place off (it has no precise
  // mode before 1.83), so a float Python sent would not come back as
  // itself: the literal is read again with from_chars, which rounds right.
  double correctly_rounded(double parsed, json::string_view last_part) {
    std::string_view literal(last_part.data(), last_part.size());
    if (!number_.empty()) {
      number_.append(last_part.data(), last_part.size());
      literal = number_;
    }
    double exact = 0;
    const auto [stop, error] = std::from_chars(literal.data(), literal.data() + literal.size(), exact);
    return error == std::errc() && stop == literal.data() + literal.size() ? exact : parsed;
  }
  static std::string shortened(const std::string& literal) {
    constexpr std::size_t most = 60;
    if (literal.size() <= most) return literal;
    return fmt::format("{}...{} ({} digits)", literal.substr(0, 20), literal.substr(literal.size() - 20),
                       literal.size());
  }
  std::string number_;
};

// The value of the 4 hex digits at `text[at]`, or -1.
int hex4(std::string_view text, std::size_t at) {
  if (text.size() < at + 4) return -1;
  int value = 0;
  for (std::size_t i = at; i < at + 4; ++i) {
    const char c = text[i];
    const int digit = c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                             : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

// An escaped lone surrogate. Boost.JSON says so of "\udc00" and
// "\ud800\u0041", but a high one followed by anything but "\u" ("\ud800")
// is a plain syntax error to it: the text tells that case.
bool is_lone_surrogate(json::error_code ec, std::string_view text) {
  if (ec == json::error::illegal_leading_surrogate || ec == json::error::illegal_trailing_surrogate) return true;
  if (ec != json::error::syntax) return false;
  for (std::size_t i = text.find('\\'); i != std::string_view::npos; i = text.find('\\', i)) {
    if (i + 1 < text.size() && text[i + 1] == 'u') {
      const int unit = hex4(text, i + 2);
      if (unit >= 0xD800 && unit <= 0xDBFF && text.substr(i + 6, 2) != "\\u") return true;
    }
    i += 2;  // past the escaped character, a backslash included
  }
  return false;
}

}  // namespace

json::value parse_python_json(std::string_view text, std::string_view what) {
  json::parse_options options;
  options.max_depth = max_python_json_depth;
  unsigned char buffer[BOOST_JSON_STACK_BUFFER_SIZE];  // as json::parse: no allocation for small values
  json::basic_parser<CheckedHandler> parser(options, json::storage_ptr(), buffer, sizeof buffer);
  parser.handler().stack.reset();
  json::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = json::error::extra_data;
  CheckedHandler& handler = parser.handler();
  if (handler.refusal) throw UnsupportedJson(fmt::format("{}: {}", what, *handler.refusal));
  if (ec == json::error::too_deep) throw UnsupportedJson(fmt::format("{}: {}", what, too_deep()));
  if (ec == json::error::exponent_overflow) {
    throw UnsupportedJson(fmt::format("{}: a number past a double's range, so not finite (JSON has no infinity)", what));
  }
  if (is_lone_surrogate(ec, text)) {
    throw UnsupportedJson(fmt::format("{}: a string with a lone UTF-16 surrogate, which is not Unicode text", what));
  }
  if (ec) throw boost::system::system_error(ec, fmt::format("{} is not JSON", what));
  return handler.stack.release();
}

}  // namespace fray
