// The 4-byte length before each frame of the worker protocol: little-endian
// on every host, as fray_worker.py reads and writes it.
#pragma once

#include <cstdint>

namespace fray::detail {

inline void write_frame_length(char* out, std::uint32_t length) noexcept {
  for (int i = 0; i < 4; ++i) out[i] = char((length >> (8 * i)) & 0xFF);
}

inline std::uint32_t read_frame_length(const char* in) noexcept {
  std::uint32_t length = 0;
  for (int i = 0; i < 4; ++i) length |= std::uint32_t(static_cast<unsigned char>(in[i])) << (8 * i);
  return length;
}

}  // namespace fray::detail
