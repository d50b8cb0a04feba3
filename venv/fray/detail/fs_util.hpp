// File-system helpers for the env cache: atomic and durable writes, trees,
// file identities (for caching hashes and probes by stat), PATH lookups.
// Every descriptor is opened with O_CLOEXEC so no child inherits it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace fray::detail {

// What changes when a file is replaced or rewritten: device, inode, size,
// modification and change times (ns). Used to reuse a hash or probe result.
struct FileIdentity {
  std::uint64_t device = 0, inode = 0, size = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  std::string text() const;
  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};
// Follows symlinks; nullopt when the file does not exist.
std::optional<FileIdentity> identity_of(const std::filesystem::path& file);

// Whole file, or nullopt when it cannot be read.
std::optional<std::string> read_file(const std::filesystem::path& file);
// The file begins with "#!" (a script); reads two bytes, not the file.
bool starts_with_shebang(const std::filesystem::path& file) noexcept;
// Writes and closes; with `durable`, fsyncs before closing. Never writes
// through a link (O_NOFOLLOW). With `mode`, the file gets exactly that mode
// (the umask does not apply). Throws std::system_error.
void write_file(const std::filesystem::path& file, std::string_view content, bool durable = false,
                std::optional<mode_t> mode = std::nullopt);
inline void write_file_durable(const std::filesystem::path& file, std::string_view content) { write_file(file, content, true); }
// Writes a sibling temporary file (fsynced with `durable`) and renames it
// over `file`, so readers see the old content or the new, never a part.
// Throws std::system_error.
void write_file_atomic(const std::filesystem::path& file, std::string_view content, bool durable = true,
                       std::optional<mode_t> mode = std::nullopt);
// fsync of a directory, so renames and creations in it are durable; errors ignored.
void fsync_directory(const std::filesystem::path& dir) noexcept;

// A new empty directory `<dir>/<prefix>XXXXXX`. Throws std::system_error.
std::filesystem::path make_temp_directory(const std::filesystem::path& dir, std::string_view prefix);
// Removes a tree; errors ignored (returns false if something remained).
// Works under directory descriptors (openat, unlinkat) and never crosses a
// link: a link is unlinked, what it points at stays, even when the link is
// `path` itself or is put in place of a directory while it is removed.
bool remove_tree(const std::filesystem::path& path) noexcept;
// The same for the entry `name` of the directory open at `dir_fd`.
bool remove_tree_at(int dir_fd, const char* name) noexcept;
// Takes group and other write away from everything in `tree` (links are
// left alone): what an installer made under a umask like 002. Throws
// std::system_error.
void drop_group_other_write(const std::filesystem::path& tree);
// A fresh directory under the system's temporary directory, removed with
// everything in it (read-only subdirectories too) when this goes: for
// scratch space in tests and benchmarks. Throws std::system_error.
class TempDirectory {
 public:
  explicit TempDirectory(std::string_view prefix = "fray-");
  TempDirectory(const TempDirectory&) = delete;
  TempDirectory& operator=(const TempDirectory&) = delete;
  ~TempDirectory() { remove_tree(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Apparent size of the regular files under `path` (symlinks not followed).
std::uintmax_t tree_size(const std::filesystem::path& path) noexcept;

// The first executable regular file called `name` in the directories of
// `path_var` ("a:b:c"), or empty. A name with a '/' is returned as is when
// it is executable.
std::filesystem::path find_on_path(std::string_view name, std::string_view path_var);
bool is_executable_file(const std::filesystem::path& file) noexcept;
bool is_executable_file(const char* file) noexcept;

}  // namespace fray::detail
