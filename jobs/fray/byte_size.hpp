// Byte sizes as people write them: "512m", "4g", "1.5GiB", "100000" (bytes;
// K, M, G, T are powers of 1024, with or without "B"/"iB"), for job
// resources and the command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fray {

// nullopt when `text` is not a size or does not fit in 64 bits.
std::optional<std::uint64_t> parse_byte_size(std::string_view text);
// "1.5 GiB", "512 B".
std::string format_byte_size(std::uint64_t bytes);

}  // namespace fray
