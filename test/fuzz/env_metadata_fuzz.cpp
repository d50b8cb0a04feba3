// An env's fray-env.json as `fray venv list` reads it: the file is in the
// user's cache, where an older fray, a crash or a hand edit may have left
// anything; reading it gives what it can and never throws.
#include "fray/detail/env_metadata.hpp"

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)fray::detail::parse_env_metadata(fray::fuzz::text_of(data, size));
  return 0;
}
