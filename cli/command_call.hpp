// `fray call`: one Python function call in an isolated env, its JSON result
// on stdout.
#pragma once

#include <string_view>

#include "command_line.hpp"

namespace fray::cli {

int command_call(ArgReader args);

}  // namespace fray::cli
