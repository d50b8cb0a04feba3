// Small helpers for raw descriptors shared by the process supervisors. Every
// descriptor fray opens is O_CLOEXEC, so no child inherits it by accident.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace fray::detail {

// open(2) with O_CLOEXEC, retried on EINTR; -1 with errno on failure.
inline int open_cloexec(const char* path, int flags) noexcept {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Closes `fd` if open and marks it closed.
inline void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Reads a blocking `fd` to its end (or its first error), retrying on EINTR.
inline std::string read_to_end(int fd) {
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return text;
    text.append(buffer, static_cast<std::size_t>(got));
  }
}

inline void set_nonblocking(int fd) noexcept { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace fray::detail
