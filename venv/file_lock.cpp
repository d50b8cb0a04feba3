#include "fray/detail/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "fray/detail/cache_trust.hpp"

namespace fray::detail {

namespace {
int flock_op(FileLock::Mode mode) { return mode == FileLock::Mode::shared ? LOCK_SH : LOCK_EX; }

int flock_retrying(int fd, int op) {
  int rc;
  do {
    rc = ::flock(fd, op);
  } while (rc != 0 && errno == EINTR);
  return rc;
}
}  // namespace

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

bool FileLock::still_at_path() const noexcept {
  struct stat held {}, current {};
  if (::fstat(fd_, &held) != 0 || ::lstat(path_.c_str(), &current) != 0) return false;
  return held.st_dev == current.st_dev && held.st_ino == current.st_ino;
}

std::optional<FileLock> FileLock::lock(const std::filesystem::path& file, Mode mode, bool wait) {
  for (;;) {
    // Never through a link planted in the cache (an UnsafeCache); a new
    // lock file is 0600 whatever the umask.
    int fd = open_cache_file(file, O_RDWR | O_CREAT);
    // A read-only cache can still be shared: flock works on a read-only descriptor.
    if (fd < 0 && (errno == EROFS || errno == EACCES) && mode == Mode::shared) fd = open_cache_file(file, O_RDONLY);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot open the lock file " + file.string());
    if (flock_retrying(fd, flock_op(mode) | (wait ? 0 : LOCK_NB)) != 0) {
      const int error = errno;
      ::close(fd);
      if (!wait && error == EWOULDBLOCK) return std::nullopt;
      throw std::system_error(error, std::generic_category(), "cannot lock " + file.string());
    }
    FileLock held(fd, file);
    // Its holder deleted the file while we waited: lock the new one.
    if (held.still_at_path()) return held;
  }
}

FileLock FileLock::acquire(const std::filesystem::path& file, Mode mode) { return std::move(*lock(file, mode, true)); }

std::optional<FileLock> FileLock::try_acquire(const std::filesystem::path& file, Mode mode) {
  return lock(file, mode, false);
}

bool FileLock::change(Mode mode) {
  if (flock_retrying(fd_, flock_op(mode)) != 0) {
    const int error = errno;
    release();
    throw std::system_error(error, std::generic_category(), "cannot lock " + path_.string());
  }
  if (still_at_path()) return true;
  release();
  return false;
}

void FileLock::remove_file_and_release() noexcept {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());
  release();
}

void FileLock::release() noexcept {
  if (fd_ < 0) return;
  ::close(fd_);  // drops the flock
  fd_ = -1;
}

}  // namespace fray::detail
