// Size strings ("512m", "1.5GiB", "100000"): parsed to a number of bytes
// that fits in 64 bits, or refused; a parsed size prints, and its byte
// count parses back to itself.
#include <string>

#include "fray/byte_size.hpp"

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::optional<std::uint64_t> bytes = fray::parse_byte_size(fray::fuzz::text_of(data, size));
  if (!bytes) return 0;
  (void)fray::format_byte_size(*bytes);
  if (fray::parse_byte_size(std::to_string(*bytes)) != bytes) {
    fray::fuzz::property_broken("a byte count does not parse back to itself");
  }
  return 0;
}
