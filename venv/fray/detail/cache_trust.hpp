// Who may change what fray trusts in its env cache: you and root, no one
// else (as ssh's StrictModes). fray runs the envs' interpreters and the
// interpreters its probes name, so a cache another user can change is a way
// to run their code as you. Every check uses lstat or O_NOFOLLOW: inside the
// cache a symbolic link is refused, never followed. Throws UnsafeCache
// naming the path and the reason (CacheNotWritable when a part is not a
// directory or cannot be made).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace fray::detail {

// What fray makes in the cache, whatever the umask: its directories and its
// own files (logs, locks, probes, hashes) are private. Inside an env the
// installer's modes stay, less group and other write (so 0755/0644: an env
// may be shared read-only by whoever can reach it).
inline constexpr mode_t kPrivateDirMode = 0700;
inline constexpr mode_t kPrivateFileMode = 0600;
inline constexpr mode_t kEnvFileMode = 0644;

// The cache directory (FRAY_CACHE_DIR, ...) and each directory above it:
// owned by you or root; above it, writable by group or others only with the
// sticky bit (like /tmp); the cache directory itself not writable by group
// or others. Symbolic links on the way there are yours or root's, and their
// targets are checked the same way. With `create`, the missing directories
// are made (0700).
void check_cache_dir(const std::filesystem::path& dir, bool create);

// A directory fray uses inside the cache (venv/, envs/, logs/, envs/<key>,
// ...): a directory, not a link, yours or root's, not writable by group or
// others. False when it does not exist (with `create`, it is made, 0700).
bool check_cache_subdir(const std::filesystem::path& dir, bool create);

// open(2) of a file fray uses in the cache, never through a link
// (O_NOFOLLOW): a link there, a file that is not regular, yours or root's,
// or one writable by group or others is an UnsafeCache. With O_CREAT in
// `flags`, a new file gets exactly `mode`. -1 with errno on other failures.
int open_cache_file(const std::filesystem::path& file, int flags, mode_t mode = kPrivateFileMode);

// A whole small file of the cache (a probe, a hash, an env's metadata) when
// it can be trusted as open_cache_file says; nullopt when it is missing or
// cannot be (the caller then recomputes it and replaces it).
std::optional<std::string> read_trusted_file(const std::filesystem::path& file) noexcept;

}  // namespace fray::detail
