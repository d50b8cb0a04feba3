// An env's fray-env.json (written by env_builder.cpp's metadata_json), read
// back for `fray venv list`: the packages as they were asked for, the
// interpreter and the installer. A file that is not fray's (not JSON, other
// fields, other types) leaves what it lacks empty, and never throws.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fray::detail {

struct EnvMetadata {
  std::vector<std::string> packages;  // URL credentials hidden (an older fray may have stored them)
  std::string python;                 // "cpython 3.11.2 /usr/bin/python3.11"
  std::string installer;              // "pip 23.0.1"
};

EnvMetadata parse_env_metadata(std::string_view text);

}  // namespace fray::detail
