#include "fray/detail/sha256.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace fray::detail {

namespace {

#define FRAY_STRINGIFY_(x) #x
#define FRAY_STRINGIFY(x) FRAY_STRINGIFY_(x)

// OpenSSL's libcrypto, loaded the first time a digest is needed rather than
// linked: linked, it costs every fray program about 2.7 M instructions of
// relocations and initializers before main (1.1-1.5 ms of a job
// supervisor's start here, a fifth of a local launch), though most of them
// never hash anything. The one OpenSSL this was built against (its soname).
struct Crypto {
  EVP_MD_CTX* (*md_ctx_new)();
  void (*md_ctx_free)(EVP_MD_CTX*);
  const EVP_MD* (*sha256)();
  int (*digest_init_ex)(EVP_MD_CTX*, const EVP_MD*, ENGINE*);
  int (*digest_update)(EVP_MD_CTX*, const void*, size_t);
  int (*digest_final_ex)(EVP_MD_CTX*, unsigned char*, unsigned int*);
};

constexpr const char* kCryptoLibrary = "libcrypto.so." FRAY_STRINGIFY(OPENSSL_SHLIB_VERSION);

template <class F>
void find(void* library, const char* name, F& function) {
  function = reinterpret_cast<F>(::dlsym(library, name));
  if (function == nullptr) {
    throw std::runtime_error(std::string("fray: ") + kCryptoLibrary + " has no " + name + " (SHA-256 needs it)");
  }
}

Crypto load_crypto() {
  void* library = ::dlopen(kCryptoLibrary, RTLD_NOW | RTLD_LOCAL);  // never closed
  if (library == nullptr) {
    const char* why = ::dlerror();
    throw std::runtime_error(std::string("fray: cannot load OpenSSL's ") + kCryptoLibrary +
                             " for SHA-256 (install libssl3): " + (why != nullptr ? why : "unknown error"));
  }
  Crypto crypto{};
  find(library, "EVP_MD_CTX_new", crypto.md_ctx_new);
  find(library, "EVP_MD_CTX_free", crypto.md_ctx_free);
  find(library, "EVP_sha256", crypto.sha256);
  find(library, "EVP_DigestInit_ex", crypto.digest_init_ex);
  find(library, "EVP_DigestUpdate", crypto.digest_update);
  find(library, "EVP_DigestFinal_ex", crypto.digest_final_ex);
  return crypto;
}

// Loaded once, on first use (a failed load is tried again next time).
const Crypto& crypto() {
  static const Crypto loaded = load_crypto();
  return loaded;
}

struct DigestDeleter {
  void operator()(EVP_MD_CTX* context) const noexcept { crypto().md_ctx_free(context); }
};

// One SHA-256 computation; fed in pieces so large wheels are not read whole.
class Digest {
 public:
  Digest() : context_(crypto().md_ctx_new()) {
    if (!context_ || crypto().digest_init_ex(context_.get(), crypto().sha256(), nullptr) != 1) {
      throw std::runtime_error("fray: OpenSSL could not start a SHA-256 digest");
    }
  }
  void update(const void* data, std::size_t size) { crypto().digest_update(context_.get(), data, size); }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    crypto().digest_final_ex(context_.get(), digest.data(), &size);
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
