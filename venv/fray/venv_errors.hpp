// The errors of isolated environments (Ray: RuntimeEnvSetupError and
// friends). Every one derives from fray::Error; those about setting an env up
// also derive from RuntimeEnvError, so one catch handles "the env could not
// be made".
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "fray/errors.hpp"
#include "fray/process_result.hpp"

namespace fray {

// The env could not be opened or built. Nothing partial is left in the cache.
class RuntimeEnvError : public Error {
 public:
  using Error::Error;
};

// A requirement string (or a line of a requirements file) is not a valid
// PEP 508 requirement, or uses something fray does not support.
class InvalidRequirement : public RuntimeEnvError {
 public:
  InvalidRequirement(std::string requirement, const std::string& reason);
  const std::string& requirement() const noexcept { return requirement_; }

 private:
  std::string requirement_;
};

// The interpreter named by VenvOptions::python is not on PATH, not
// executable, or does not run as a Python interpreter.
class InterpreterNotFound : public RuntimeEnvError {
 public:
  using RuntimeEnvError::RuntimeEnvError;
};

// A find-links directory (or file) that does not exist.
class FindLinksNotFound : public RuntimeEnvError {
 public:
  using RuntimeEnvError::RuntimeEnvError;
};

// The requirements file (or one it includes) cannot be read.
class RequirementsFileNotFound : public RuntimeEnvError {
 public:
  using RuntimeEnvError::RuntimeEnvError;
};

// The cache directory cannot be created or written.
class CacheNotWritable : public RuntimeEnvError {
 public:
  using RuntimeEnvError::RuntimeEnvError;
};

// The cache, or a directory or file fray uses in it, could be changed by
// someone else: it is owned by another user (root excepted), writable by its
// group or by others, under a directory others can write without the sticky
// bit, or a symbolic link. fray runs nothing from such a cache; the message
// names the path and the reason.
class UnsafeCache : public RuntimeEnvError {
 public:
  using RuntimeEnvError::RuntimeEnvError;
};

// No usable installer: uv was asked for and is not on PATH, or the
// interpreter's pip is missing or too old for --python (pip >= 22.3).
class InstallerNotFound : public RuntimeEnvError {
 public:
  using RuntimeEnvError::RuntimeEnvError;
};

// A setup command failed: which command, its exit status, the last lines of
// its output, and the log file that holds all of it.
class RuntimeEnvSetupError : public RuntimeEnvError {
 public:
  RuntimeEnvSetupError(std::string summary, std::vector<std::string> command, int exit_status,
                       std::vector<std::string> last_lines, std::filesystem::path log);
  const std::vector<std::string>& command() const noexcept { return command_; }
  // The exit status as a shell reports it (128 + N for signal N).
  int exit_status() const noexcept { return exit_status_; }
  const std::vector<std::string>& last_lines() const noexcept { return last_lines_; }
  const std::filesystem::path& log() const noexcept { return log_; }

 private:
  std::vector<std::string> command_;
  int exit_status_;
  std::vector<std::string> last_lines_;
  std::filesystem::path log_;
};

// The installer found no distribution for a requirement.
class PackageNotFound : public RuntimeEnvSetupError {
 public:
  using RuntimeEnvSetupError::RuntimeEnvSetupError;
};

// Setting the env up took longer than VenvOptions::setup_timeout; the
// installer's process group was killed.
class RuntimeEnvSetupTimeout : public RuntimeEnvSetupError {
 public:
  using RuntimeEnvSetupError::RuntimeEnvSetupError;
};

// run(): the command is not on the child's PATH, or not executable.
class CommandNotFound : public Error {
 public:
  using Error::Error;
};

// run(): the command names a file (a path with a '/') that exists but cannot
// be executed: a directory, or a file without execute permission. The
// shell's 126, where a missing command is its 127.
class CommandNotExecutable : public CommandNotFound {
 public:
  using CommandNotFound::CommandNotFound;
};

// run(): the process could not be started (fork or exec failed).
class ProcessLaunchFailed : public Error {
 public:
  using Error::Error;
};

// run() with a timeout: the process group was stopped (SIGTERM, then SIGKILL
// after the grace period) and reaped. result() holds what it printed.
class ProcessTimeout : public Error {
 public:
  ProcessTimeout(const std::string& what, ProcessResult result) : Error(what), result_(std::move(result)) {}
  const ProcessResult& result() const noexcept { return result_; }

 private:
  ProcessResult result_;
};

// run() with RunOptions::check: the process exited non-zero or was killed.
class ProcessFailed : public Error {
 public:
  ProcessFailed(const std::string& what, ProcessResult result) : Error(what), result_(std::move(result)) {}
  const ProcessResult& result() const noexcept { return result_; }

 private:
  ProcessResult result_;
};

// VenvCache::remove of an env that a process is using (it holds the env's
// shared lock).
class EnvInUse : public Error {
 public:
  using Error::Error;
};

// VenvOptions::built_key names an env that is not (or not yet, or no
// longer) complete in the cache.
class EnvNotBuilt : public RuntimeEnvError {
 public:
  using RuntimeEnvError::RuntimeEnvError;
};

}  // namespace fray
