// The 4-byte length before each frame of the worker protocol: little-endian
// on every host, as fray_worker.py reads and writes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fray::detail {

inline void write_frame_length(char* out, std::uint32_t length) noexcept {
  for (int i = 0; i < 4; ++i) out[i] = char((length >> (8 * i)) & 0xFF);
}

inline std::uint32_t read_frame_length(const char* in) noexcept {
  std::uint32_t length = 0;
  for (int i = 0; i < 4; ++i) length |= std::uint32_t(static_cast<unsigned char>(in[i])) << (8 * i);
  return length;
}

// Splits the complete frames at the start of `bytes` (each its length,
// then that many bytes) off into `payloads`, and returns how many bytes
// they took; a partial frame at the end waits for more. A length over
// `max_frame_bytes` sets `oversized` and stops there (the worker broke
// the protocol, or a frame too large to take).
inline std::size_t split_frames(std::string_view bytes, std::size_t max_frame_bytes, std::vector<std::string>& payloads,
                                bool& oversized) {
  std::size_t offset = 0;
  while (bytes.size() - offset >= 4) {
    const std::uint32_t length = read_frame_length(bytes.data() + offset);
    if (length > max_frame_bytes) {
      oversized = true;
      break;
    }
    if (bytes.size() - offset - 4 < length) break;
    payloads.emplace_back(bytes.substr(offset + 4, length));
    offset += 4 + std::size_t(length);
  }
  return offset;
}

}  // namespace fray::detail
