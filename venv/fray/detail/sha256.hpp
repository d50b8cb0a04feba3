// SHA-256 hex digests (OpenSSL's libcrypto), for cache keys and the content
// hashes of local wheels.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace fray::detail {

std::string sha256_hex(std::string_view text);
// Throws std::system_error when the file cannot be read.
std::string sha256_file_hex(const std::filesystem::path& file);

}  // namespace fray::detail
