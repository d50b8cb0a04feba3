#include "fray/detail/sha256.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace fray::detail {

namespace {

struct DigestDeleter {
  void operator()(EVP_MD_CTX* context) const noexcept { EVP_MD_CTX_free(context); }
};

// One SHA-256 computation; fed in pieces so large wheels are not read whole.
class Digest {
 public:
  Digest() : context_(EVP_MD_CTX_new()) {
    if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("fray: OpenSSL could not start a SHA-256 digest");
    }
  }
  void update(const void* data, std::size_t size) { EVP_DigestUpdate(context_.get(), data, size); }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_DigestFinal_ex(context_.get(), digest.data(), &size);
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    for (unsigned int i = 0; i < size; ++i) {
      text.push_back(digits[digest[i] >> 4]);
      text.push_back(digits[digest[i] & 15]);
    }
    return text;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, DigestDeleter> context_;
};

[[noreturn]] void throw_unreadable(int error, const std::filesystem::path& file) {
  throw std::system_error(error, std::generic_category(), "cannot read " + file.string());
}

}  // namespace

std::string sha256_hex(std::string_view text) {
  Digest digest;
  digest.update(text.data(), text.size());
  return digest.hex();
}

std::string sha256_file_hex(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_unreadable(errno, file);
  Digest digest;
  std::vector<char> buffer(1 << 16);
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw_unreadable(error, file);
    }
    if (n == 0) break;
    digest.update(buffer.data(), std::size_t(n));
  }
  ::close(fd);
  return digest.hex();
}

}  // namespace fray::detail
