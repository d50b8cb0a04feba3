// `fray call`: one Python function call in an isolated env, its JSON result
// on stdout.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "command_line.hpp"

namespace fray::cli {

int command_call(ArgReader args);

// JSON_ARG and NAME=JSON words as a call's arguments: a word that is not
// valid JSON is a string; NAME (a Python identifier) makes a keyword. A
// usage error for a keyword given twice or a positional after a keyword.
struct CallArguments {
  boost::json::array args;
  boost::json::object kwargs;
};
CallArguments parse_call_arguments(const ArgReader& args, const std::vector<std::string>& words);

}  // namespace fray::cli
