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
#include <vector>

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

void write_file(const fs::path& file, std::string_view content, bool durable, std::optional<mode_t> mode) {
  // O_NOFOLLOW: fray writes its own files, never through a link put in their place.
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode.value_or(0644));
  if (fd < 0) throw_errno(errno, "cannot create " + file.string());
  if (mode && ::fchmod(fd, *mode) != 0) {
    const int error = errno;
    ::close(fd);
    throw_errno(error, "cannot set the mode of " + file.string());
  }
  write_all(fd, content, file);
  if (durable && ::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    throw_errno(error, "cannot sync " + file.string());
  }
  ::close(fd);
}

void write_file_atomic(const fs::path& file, std::string_view content, bool durable, std::optional<mode_t> mode) {
  thread_local std::minstd_rand random(std::random_device{}());
  const fs::path temp = file.string() + fmt::format(".tmp{}-{}", ::getpid(), random());
  try {
    write_file(temp, content, durable, mode);
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
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
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

namespace {

// Entries of the directory open at `fd`, but for . and ..: read before
// any is removed (removing while a directory is read may skip entries).
std::vector<std::string> entry_names(int fd) {
  std::vector<std::string> names;
  const int listing = ::openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing < 0) return names;
  DIR* dir = ::fdopendir(listing);
  if (dir == nullptr) {
    ::close(listing);
    return names;
  }
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(dir);
  return names;
}

// The directory `name` in `dir_fd`, opened so that it cannot be a link. A
// directory without read permission (some packages make them) gets it
// back first, through a descriptor of the directory itself.
int open_directory_at(int dir_fd, const char* name) noexcept {
  int fd = ::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0 || errno != EACCES) return fd;
  const int path_fd = ::openat(dir_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (path_fd < 0) return -1;
  ::chmod(fmt::format("/proc/self/fd/{}", path_fd).c_str(), S_IRWXU);
  ::close(path_fd);
  return ::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

// Calls visit(fd of a directory, name, lstat of it) for every entry under
// the directory open at `fd`, children before their directory; links are
// visited, never followed.
template <class Visit>
bool walk_tree_at(int fd, Visit&& visit) {
  bool ok = true;
  for (const std::string& name : entry_names(fd)) {
    struct stat st {};
    if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      const int child = open_directory_at(fd, name.c_str());
      if (child < 0) {
        ok = false;
        continue;
      }
      ok = walk_tree_at(child, visit) && ok;
      ::close(child);
    }
    ok = visit(fd, name.c_str(), st) && ok;
  }
  return ok;
}

int open_parent(const fs::path& path, std::string& name) {
  const fs::path normal = path.lexically_normal();
  fs::path leaf = normal.filename();
  fs::path parent = normal.parent_path();
  if (leaf.empty()) {  // "dir/"
    leaf = parent.filename();
    parent = parent.parent_path();
  }
  name = leaf.string();
  return ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

}  // namespace

bool remove_tree_at(int dir_fd, const char* name) noexcept {
  try {
    // A link or a file: unlinked (a link's target is never touched).
    if (::unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT) return true;
    const int fd = open_directory_at(dir_fd, name);
    if (fd < 0) return false;
    // Entries can only be removed from a directory its owner may write.
    struct stat st {};
    if (::fstat(fd, &st) == 0 && (st.st_mode & S_IRWXU) != S_IRWXU) ::fchmod(fd, st.st_mode | S_IRWXU);
    bool emptied = true;
    for (const std::string& entry : entry_names(fd)) emptied = remove_tree_at(fd, entry.c_str()) && emptied;
    ::close(fd);
    return (::unlinkat(dir_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) && emptied;
  } catch (...) {
    return false;  // out of memory listing a directory
  }
}

bool remove_tree(const fs::path& path) noexcept {
  std::string name;
  const int dir_fd = open_parent(path, name);
  if (dir_fd < 0) return errno == ENOENT;
  const bool removed = remove_tree_at(dir_fd, name.c_str());
  ::close(dir_fd);
  return removed;
}

void drop_group_other_write(const fs::path& tree) {
  std::string name;
  const int dir_fd = open_parent(tree, name);
  if (dir_fd < 0) throw_errno(errno, "cannot open the directory of " + tree.string());
  int error = 0;
  std::string failed;
  auto drop = [&](int parent, const char* entry, const struct stat& st) {
    // Links have no mode of their own; chmod would change their target.
    if (S_ISLNK(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH)) == 0) return true;
    if (::fchmodat(parent, entry, st.st_mode & 07755, 0) == 0) return true;
    if (error == 0) {
      error = errno;
      failed = entry;
    }
    return false;
  };
  const int fd = open_directory_at(dir_fd, name.c_str());
  if (fd < 0) {
    error = errno;
    failed = name;
  } else {
    walk_tree_at(fd, drop);
    ::close(fd);
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) drop(dir_fd, name.c_str(), st);
  }
  ::close(dir_fd);
  if (error != 0) throw_errno(error, fmt::format("cannot take group and other write from {} in {}", failed, tree.string()));
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

bool is_executable_file(const char* file) noexcept {
  struct stat st {};
  return ::stat(file, &st) == 0 && S_ISREG(st.st_mode) && ::access(file, X_OK) == 0;
}

bool is_executable_file(const fs::path& file) noexcept { return is_executable_file(file.c_str()); }

fs::path find_on_path(std::string_view name, std::string_view path_var) {
  if (name.empty()) return {};
  if (name.find('/') != std::string_view::npos) {
    fs::path file(name);
    return is_executable_file(file) ? file : fs::path();
  }
  // Every start looks its command up (as execvp does): one buffer for the
  // candidates, a path only for the one found.
  std::string candidate;
  std::size_t start = 0;
  while (start <= path_var.size()) {
    std::size_t end = path_var.find(':', start);
    if (end == std::string_view::npos) end = path_var.size();
    std::string_view dir = path_var.substr(start, end - start);
    // An empty entry means the current directory, as for execvp.
    candidate.assign(dir.empty() ? std::string_view(".") : dir).append("/").append(name);
    if (is_executable_file(candidate.c_str())) {
      const fs::path found = dir.empty() ? fs::path(name) : fs::path(dir) / name;
      std::error_code ec;
      fs::path absolute = fs::absolute(found, ec);
      return ec ? found : absolute;
    }
    start = end + 1;
  }
  return {};
}

}  // namespace fray::detail
