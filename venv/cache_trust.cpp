#include "fray/detail/cache_trust.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "fray/venv_errors.hpp"

namespace fray::detail {

namespace fs = std::filesystem;

namespace {

// Symbolic links followed on the way to the cache directory, at most (Linux's own limit).
constexpr int kMaxLinks = 40;

bool trusted_owner(uid_t owner) { return owner == ::geteuid() || owner == 0; }

[[noreturn]] void throw_unsafe(const std::string& why) { throw UnsafeCache("unsafe env cache: " + why); }

// Why no one but you and root may be trusted with `path`, or nullopt.
std::optional<std::string> owner_problem(const fs::path& path, const struct stat& st) {
  if (trusted_owner(st.st_uid)) return std::nullopt;
  return fmt::format("{} is owned by uid {}, not you (uid {})", path.string(), st.st_uid, ::geteuid());
}

// Not writable by group or others: what the cache directory, fray's
// directories in it and its files must be.
std::optional<std::string> mode_problem(const fs::path& path, const struct stat& st) {
  const unsigned mode = st.st_mode & 07777;
  if (mode & S_IWOTH) return fmt::format("{} is writable by others (mode {:04o})", path.string(), mode);
  if (mode & S_IWGRP) return fmt::format("{} is writable by its group (mode {:04o})", path.string(), mode);
  return std::nullopt;
}

void check_owner(const fs::path& path, const struct stat& st) {
  if (auto why = owner_problem(path, st)) throw_unsafe(*why);
}

void check_private_mode(const fs::path& path, const struct stat& st) {
  if (auto why = mode_problem(path, st)) throw_unsafe(*why);
}

// A directory above the cache: others may write it only if the sticky bit
// keeps them from renaming or deleting what is not theirs (as in /tmp).
void check_ancestor_mode(const fs::path& path, const struct stat& st) {
  if ((st.st_mode & S_ISVTX) != 0) return;
  if (st.st_mode & S_IWOTH) throw_unsafe(fmt::format("{} is writable by others without the sticky bit", path.string()));
  if (st.st_mode & S_IWGRP) throw_unsafe(fmt::format("{} is writable by its group without the sticky bit", path.string()));
}

[[noreturn]] void throw_not_writable(const fs::path& path, int error) {
  throw CacheNotWritable(fmt::format("the env cache {} is not writable: {}", path.string(), std::strerror(error)));
}

[[noreturn]] void throw_not_a_directory(const fs::path& path) {
  throw CacheNotWritable(fmt::format("the env cache cannot be in {}: it is not a directory", path.string()));
}

// mkdir, then chmod: a umask can only take bits away, and may take too many.
void make_private_directory(const fs::path& dir) {
  if (::mkdir(dir.c_str(), kPrivateDirMode) != 0) {
    if (errno == EEXIST) return;  // made meanwhile (another fray): checked by the caller
    throw_not_writable(dir, errno);
  }
  if (::chmod(dir.c_str(), kPrivateDirMode) != 0) throw_not_writable(dir, errno);
}

// The components of `path` to walk, the first last (so pop_back takes it).
void push_components(const fs::path& path, std::vector<std::string>& pending) {
  std::vector<std::string> parts;
  for (const auto& part : path.relative_path()) parts.push_back(part.string());
  pending.insert(pending.end(), parts.rbegin(), parts.rend());
}

std::string read_link(const fs::path& link) {
  std::string target(4096, '\0');
  const ssize_t n = ::readlink(link.c_str(), target.data(), target.size());
  if (n < 0) throw_not_writable(link, errno);
  target.resize(std::size_t(n));
  return target;
}

}  // namespace

void check_cache_dir(const fs::path& dir, bool create) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(dir, ec).lexically_normal();
  // Resolved by hand, a component at a time, so that every directory the
  // path goes through, and every link it follows, is checked.
  std::vector<std::string> pending;
  push_components(absolute, pending);
  fs::path at = "/";  // never a link: each step below resolves them
  struct stat st {};
  if (::lstat("/", &st) != 0) throw_not_writable("/", errno);
  check_owner(at, st);
  struct stat at_st = st;
  int links = 0;
  while (!pending.empty()) {
    const std::string name = std::move(pending.back());
    pending.pop_back();
    if (name.empty() || name == ".") continue;
    if (name == "..") {
      at = at.parent_path();
      if (::lstat(at.c_str(), &at_st) != 0) throw_not_writable(at, errno);
      continue;
    }
    // What is looked up in `at` is what `at`'s writers could replace.
    check_ancestor_mode(at, at_st);
    const fs::path next = at / name;
    if (::lstat(next.c_str(), &st) != 0) {
      if (errno == ENOTDIR) throw_not_a_directory(at);
      if (errno != ENOENT) throw_not_writable(next, errno);
      if (!create) return;  // nothing there yet: nothing to trust
      make_private_directory(next);
      if (::lstat(next.c_str(), &st) != 0) throw_not_writable(next, errno);
    }
    if (S_ISLNK(st.st_mode)) {
      // Its directory was checked: a link of yours (or root's) there is
      // one no one else can change. Where it points is checked next.
      if (!trusted_owner(st.st_uid)) {
        throw_unsafe(fmt::format("{} is a symbolic link owned by uid {}, not you (uid {})", next.string(), st.st_uid,
                                 ::geteuid()));
      }
      if (++links > kMaxLinks) throw CacheNotWritable(fmt::format("the env cache {}: too many symbolic links", dir.string()));
      const fs::path target = read_link(next);
      if (target.is_absolute()) {
        at = "/";
        if (::lstat("/", &at_st) != 0) throw_not_writable("/", errno);
      }
      push_components(target, pending);
      continue;
    }
    if (!S_ISDIR(st.st_mode)) throw_not_a_directory(next);
    check_owner(next, st);
    at = next;
    at_st = st;
  }
  // `at` is the cache directory itself: no one else may write it, sticky or not.
  if (::lstat(at.c_str(), &st) != 0) throw_not_writable(at, errno);
  check_private_mode(at, st);
}

bool check_cache_subdir(const fs::path& dir, bool create) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOTDIR) throw_not_a_directory(dir.parent_path());
    if (errno != ENOENT) throw_not_writable(dir, errno);
    if (!create) return false;
    make_private_directory(dir);
    if (::lstat(dir.c_str(), &st) != 0) throw_not_writable(dir, errno);
  }
  if (S_ISLNK(st.st_mode)) throw_unsafe(fmt::format("{} is a symbolic link (fray follows no link in its cache)", dir.string()));
  if (!S_ISDIR(st.st_mode)) throw_not_a_directory(dir);
  check_owner(dir, st);
  check_private_mode(dir, st);
  return true;
}

namespace {

int open_nofollow(const fs::path& file, int flags, mode_t mode) {
  int fd;
  do {
    // O_NONBLOCK: a FIFO put there must not stall the open (it is refused below).
    fd = ::open(file.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 && errno == ELOOP) {
    throw_unsafe(fmt::format("{} is a symbolic link (fray follows no link in its cache)", file.string()));
  }
  return fd;
}

// nullopt when the open file is fine, else why it is not.
std::optional<std::string> untrusted_file(int fd, const fs::path& file) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fmt::format("{} cannot be examined: {}", file.string(), std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fmt::format("{} is not a regular file", file.string());
  if (auto why = owner_problem(file, st)) return why;
  return mode_problem(file, st);
}

}  // namespace

int open_cache_file(const fs::path& file, int flags, mode_t mode) {
  const bool may_create = (flags & O_CREAT) != 0;
  flags &= ~(O_CREAT | O_EXCL);
  int fd;
  for (;;) {
    fd = open_nofollow(file, flags, 0);
    if (fd >= 0 || errno != ENOENT || !may_create) break;
    // A new file: made here, so its mode is ours and not the umask's.
    fd = open_nofollow(file, flags | O_CREAT | O_EXCL, mode);
    if (fd >= 0) {
      if (::fchmod(fd, mode) != 0) {
        const int error = errno;
        ::close(fd);
        errno = error;
        return -1;
      }
      break;
    }
    if (errno != EEXIST) break;  // else made meanwhile: open that one
  }
  if (fd < 0) return -1;
  if (auto why = untrusted_file(fd, file)) {
    ::close(fd);
    throw_unsafe(*why);
  }
  return fd;
}

std::optional<std::string> read_trusted_file(const fs::path& file) noexcept {
  try {
    const int fd = open_cache_file(file, O_RDONLY);
    if (fd < 0) return std::nullopt;
    std::string content;
    char buffer[16384];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        if (n < 0) return std::nullopt;
        return content;
      }
      content.append(buffer, std::size_t(n));
    }
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace fray::detail
