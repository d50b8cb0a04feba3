#include "fray/detail/worker_journal.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "fray/detail/posix_fd.hpp"
#include "fray/errors.hpp"

namespace fray::detail {

namespace {

constexpr std::size_t kWrittenAt = 0, kReadAt = 64, kDataAt = 128;

#if defined(__x86_64__) || defined(__i386__)
constexpr bool kSharedRing = true;  // stores are seen in the order they were made
#else
constexpr bool kSharedRing = false;
#endif

std::uint64_t& word_at(unsigned char* ring, std::size_t at) noexcept {
  return *reinterpret_cast<std::uint64_t*>(ring + at);
}

// FRAY_WORKER_JOURNAL=pipe: the pipe even where the ring works (to test it).
bool pipe_asked_for() {
  const char* choice = std::getenv("FRAY_WORKER_JOURNAL");
  return choice != nullptr && std::string_view(choice) == "pipe";
}

}  // namespace

WorkerJournal::WorkerJournal() {
  if (kSharedRing && !pipe_asked_for()) {
    const int fd = ::memfd_create("fray-worker-journal", MFD_CLOEXEC);
    const std::size_t size = kDataAt + kRingCapacity;
    if (fd >= 0 && ::ftruncate(fd, off_t(size)) == 0) {
      void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (map != MAP_FAILED) {
        ring_ = static_cast<unsigned char*>(map);
        child_fd_ = fd;
        return;
      }
    }
    if (fd >= 0) ::close(fd);  // no memfd here (an old kernel, a sandbox): the pipe will do
  }
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) {
    throw Error(fmt::format("cannot create a pipe for a Python worker: {}", std::strerror(errno)));
  }
  pipe_read_ = ends[0];
  child_fd_ = ends[1];
  set_nonblocking(pipe_read_);
}

WorkerJournal::~WorkerJournal() {
  if (ring_ != nullptr) ::munmap(ring_, kDataAt + kRingCapacity);
  close_fd(pipe_read_);
  close_fd(child_fd_);
}

void WorkerJournal::close_child_fd() noexcept { close_fd(child_fd_); }

std::ptrdiff_t WorkerJournal::read(char* out, std::size_t max) noexcept {
  if (ring_ == nullptr) {
    for (;;) {
      const ssize_t n = ::read(pipe_read_, out, max);
      if (n >= 0) return n == 0 && max > 0 ? kEnded : n;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : kEnded;
    }
  }
  const std::uint64_t written = std::atomic_ref(word_at(ring_, kWrittenAt)).load(std::memory_order_acquire);
  std::uint64_t& read_so_far = word_at(ring_, kReadAt);
  const std::uint64_t done = read_so_far;
  if (written < done || written - done > kRingCapacity) return kBroken;
  const std::size_t count = std::size_t(std::min<std::uint64_t>(written - done, max));
  const std::size_t start = std::size_t(done % kRingCapacity);
  const std::size_t first = std::min(count, kRingCapacity - start);
  std::memcpy(out, ring_ + kDataAt + start, first);
  std::memcpy(out + first, ring_ + kDataAt, count - first);
  std::atomic_ref(read_so_far).store(done + count, std::memory_order_release);
  return std::ptrdiff_t(count);
}

}  // namespace fray::detail
