// ProcessResult: how a process started in an isolated env ended, and what it
// printed (when its output was captured).
#pragma once

#include <chrono>
#include <string>

namespace fray {

struct ProcessResult {
  // The exit status when the process exited; -1 when a signal killed it.
  int exit_code = -1;
  // The signal that killed it, else 0.
  int signal = 0;
  // Captured stdout and stderr (Output::capture); empty otherwise.
  std::string out;
  std::string err;
  // The process id, which was also its process group id.
  int pid = 0;
  std::chrono::nanoseconds elapsed{0};

  bool ok() const noexcept { return signal == 0 && exit_code == 0; }
  // As a shell reports it: the exit status, or 128 + the signal number.
  int status() const noexcept { return signal != 0 ? 128 + signal : exit_code; }
};

}  // namespace fray
