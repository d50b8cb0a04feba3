// FileLock: a flock(2) on a lock file of the env cache: exclusive to build or
// delete an env, shared while an env is in use. Lock files may be deleted by
// whoever holds them exclusively; acquiring checks that the locked file is
// still the one at the path, and retries when it is not.
#pragma once

#include <filesystem>
#include <optional>
#include <utility>

namespace fray::detail {

class FileLock {
 public:
  enum class Mode { shared, exclusive };

  FileLock() noexcept = default;
  FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  ~FileLock() { release(); }

  // Blocks until held; creates the file (0600). Throws std::system_error,
  // or UnsafeCache when the file is a link or is not yours or root's.
  static FileLock acquire(const std::filesystem::path& file, Mode mode);
  // Held, or nullopt when someone else holds it in a conflicting mode.
  static std::optional<FileLock> try_acquire(const std::filesystem::path& file, Mode mode);

  // Converts the lock (blocking). Not atomic in flock: another process may
  // take the file in between; false when the file was deleted meanwhile (the
  // lock is then released).
  bool change(Mode mode);
  // Deletes the lock file (hold it exclusively), then releases.
  void remove_file_and_release() noexcept;
  void release() noexcept;
  bool held() const noexcept { return fd_ >= 0; }

 private:
  FileLock(int fd, std::filesystem::path path) noexcept : fd_(fd), path_(std::move(path)) {}
  static std::optional<FileLock> lock(const std::filesystem::path& file, Mode mode, bool wait);
  bool still_at_path() const noexcept;

  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace fray::detail
