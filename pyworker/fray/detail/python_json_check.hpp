// check_python_json (fray/python_json.hpp) for the call path: what the
// message names is made only when a check fails, so a call whose arguments
// are fine formats nothing.
#pragma once

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace fray::detail {

// Well-formed UTF-8 as Python's decoder reads it: no overlong forms, no
// surrogates, nothing past U+10FFFF.
bool is_valid_utf8(std::string_view text) noexcept;

using DescribeJson = std::string (*)(const void* context);
void check_python_json(const boost::json::value& value, DescribeJson describe, const void* context);

// describe() gives what the message names ("argument 1 of m:f").
template <class Describe>
void check_python_json_of(const boost::json::value& value, const Describe& describe) {
  check_python_json(
      value, [](const void* context) -> std::string { return (*static_cast<const Describe*>(context))(); }, &describe);
}

}  // namespace fray::detail
