// What every fuzz target shares: the libFuzzer entry point's signature and
// the rule for exceptions. A parser may refuse its input with one of fray's
// typed errors (fray::Error); anything else escaping (a Boost internal
// error, std::out_of_range, a crash) is a defect the fuzzer reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fray/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace fray::fuzz {

inline std::string_view text_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A property the target checks broke: abort, so that libFuzzer (and the
// corpus replay) reports the input.
[[noreturn]] inline void property_broken(const char* what) {
  std::fprintf(stderr, "fuzz property broken: %s\n", what);
  std::abort();
}

}  // namespace fray::fuzz
