// Byte sizes as people write them: "512m", "4g", "1.5GiB", "100000" (bytes;
// K, M, G, T, P, E are powers of 1024, with or without "B"/"iB"), for job
// resources and the command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fray {

// The largest size fray takes: 8 EiB (2^63 bytes), so that every size fits a
// signed 64-bit count as well as an unsigned one.
inline constexpr std::uint64_t max_byte_size = std::uint64_t{1} << 63;

// nullopt when `text` is not a size or is above max_byte_size.
std::optional<std::uint64_t> parse_byte_size(std::string_view text);
// `text` is written as a size, but one above max_byte_size (to say so).
bool byte_size_too_large(std::string_view text);
// "1.5 GiB", "512 B".
std::string format_byte_size(std::uint64_t bytes);

}  // namespace fray
