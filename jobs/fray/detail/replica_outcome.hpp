// How a replica ended, in words, for both backends: "exited with status 1",
// "killed by SIGKILL", and a Python replica's error (what
// `fray-job-supervisor call` leaves beside its result file when the
// function raised).
#pragma once

#include <string.h>

#include <filesystem>
#include <optional>
#include <string>

#include <fmt/format.h>

#include <fray/detail/fs_util.hpp>

namespace fray::detail {

// "SIGKILL", or "signal 70" for a number with no name.
inline std::string signal_name(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev != nullptr ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", signal);
}

// "killed by SIGKILL" when `signal` is set, else "exited with status N".
inline std::string describe_exit(int exit_code, int signal) {
  if (signal != 0) return fmt::format("killed by {}", signal_name(signal));
  return fmt::format("exited with status {}", exit_code);
}

// The file a failed Python replica's error goes to, beside its result file.
inline std::filesystem::path python_error_file(const std::filesystem::path& result_file) {
  return std::filesystem::path(result_file.string() + ".error");
}

// ": <the Python error>" when the replica left one, else empty.
inline std::string python_error_suffix(const std::filesystem::path& result_file) {
  const std::optional<std::string> text = read_file(python_error_file(result_file));
  return text && !text->empty() ? ": " + *text : std::string();
}

}  // namespace fray::detail
