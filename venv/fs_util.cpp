#include "fray/detail/fs_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <random>
#include <system_error>

namespace fray::detail {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

void write_all(int fd, std::string_view content, const fs::path& file) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      throw_errno(error, "cannot write " + file.string());
    }
    content.remove_prefix(std::size_t(n));
  }
}

}  // namespace

std::string FileIdentity::text() const {
  return fmt::format("{}:{}:{}:{}:{}", device, inode, size, mtime_ns, ctime_ns);
}

std::optional<FileIdentity> identity_of(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return std::nullopt;
  FileIdentity id;
  id.device = st.st_dev;
  id.inode = st.st_ino;
  id.size = std::uint64_t(st.st_size);
  id.mtime_ns = std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  id.ctime_ns = std::int64_t(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  return id;
}

std::optional<std::string> read_file(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string content;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    content.append(buffer, std::size_t(n));
  }
  ::close(fd);
  return content;
}

bool starts_with_shebang(const fs::path& file) noexcept {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char head[2] = {};
  const bool shebang = ::read(fd, head, 2) == 2 && head[0] == '#' && head[1] == '!';
  ::close(fd);
  return shebang;
}

void write_file(const fs::path& file, std::string_view content, bool durable) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno(errno, "cannot create " + file.string());
  write_all(fd, content, file);
  if (durable && ::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    throw_errno(error, "cannot sync " + file.string());
  }
  ::close(fd);
}

void write_file_atomic(const fs::path& file, std::string_view content, bool durable) {
  thread_local std::minstd_rand random(std::random_device{}());
  const fs::path temp = file.string() + fmt::format(".tmp{}-{}", ::getpid(), random());
  try {
    write_file(temp, content, durable);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    throw_errno(error, "cannot rename " + temp.string() + " to " + file.string());
  }
}

void fsync_directory(const fs::path& dir) noexcept {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

fs::path make_temp_directory(const fs::path& dir, std::string_view prefix) {
  std::string pattern = (dir / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw_errno(errno, "cannot create a directory in " + dir.string());
  return pattern;
}

TempDirectory::TempDirectory(std::string_view prefix)
    : path_(make_temp_directory(std::filesystem::temp_directory_path(), prefix)) {}

bool remove_tree(const fs::path& path) noexcept {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) {
    // A tree whose directories were made read-only (some packages do) needs
    // write permission back before its entries can go.
    std::error_code ignored;
    for (auto it = fs::recursive_directory_iterator(path, ignored); it != fs::recursive_directory_iterator();
         it.increment(ignored)) {
      if (it->is_directory(ignored) && !it->is_symlink(ignored)) {
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ignored);
      }
    }
    fs::remove_all(path, ec);
  }
  return !ec && !fs::exists(fs::symlink_status(path, ec));
}

std::uintmax_t tree_size(const fs::path& path) noexcept {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) total += std::uintmax_t(st.st_size);
  }
  return total;
}

bool is_executable_file(const fs::path& file) noexcept {
  struct stat st {};
  return ::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(file.c_str(), X_OK) == 0;
}

fs::path find_on_path(std::string_view name, std::string_view path_var) {
  if (name.empty()) return {};
  if (name.find('/') != std::string_view::npos) {
    fs::path file(name);
    return is_executable_file(file) ? file : fs::path();
  }
  std::size_t start = 0;
  while (start <= path_var.size()) {
    std::size_t end = path_var.find(':', start);
    if (end == std::string_view::npos) end = path_var.size();
    std::string_view dir = path_var.substr(start, end - start);
    // An empty entry means the current directory, as for execvp.
    fs::path candidate = dir.empty() ? fs::path(name) : fs::path(dir) / name;
    if (is_executable_file(candidate)) {
      std::error_code ec;
      fs::path absolute = fs::absolute(candidate, ec);
      return ec ? candidate : absolute;
    }
    start = end + 1;
  }
  return {};
}

}  // namespace fray::detail
