// What JSON crosses between C++ and Python workers, and the checks that
// keep the rest out. JSON of any shape crosses both ways as long as it is
// nested at most max_python_json_depth levels deep (arrays and objects:
// [] is one level, [[]] two), its numbers are finite and its integers fit
// in 64 bits (int64 or uint64), and its strings and keys are Unicode text
// (valid UTF-8; from Python, no lone surrogate). The rest fails the call
// with UnsupportedJson: an argument before it is sent, a result when it
// arrives; either way the worker carries on.
#pragma once

#include <boost/json/value.hpp>

#include <cstddef>
#include <string_view>

namespace fray {

// The deepest nesting of arrays and objects in one argument or result.
// Python's own limits set it: its json module recurses once per level,
// within the interpreter's recursion limit (1,000 by default; fray's
// worker raises it while it encodes and decodes deep values), and Python
// 3.12 and later also cap C recursion on their own, at more levels than
// this.
inline constexpr std::size_t max_python_json_depth = 1000;

// Throws UnsupportedJson if `value` cannot cross to Python: nested too
// deep, a non-finite number, a string or key that is not valid UTF-8. The
// message names `what` ("argument 1 of m:f") and where in it (a JSON
// Pointer, "/a/1").
void check_python_json(const boost::json::value& value, std::string_view what);

// Parses JSON text as fray reads what Python sends: throws UnsupportedJson
// for JSON that parses but cannot cross (too deep, an integer beyond 64
// bits, a number out of double's range such as 1e400, a lone surrogate in
// a string), and boost::system::system_error for text that is not JSON.
// `what` names the text in messages ("the result of m:f").
boost::json::value parse_python_json(std::string_view text, std::string_view what);

}  // namespace fray
