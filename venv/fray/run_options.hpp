// RunOptions: how venv.run(argv, options) starts a process and what it does
// with the process's input and output.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "fray/duration_limit.hpp"

namespace fray {

enum class Output {
  capture,  // kept in ProcessResult::out / err (the default)
  stream,   // each line goes to on_stdout / on_stderr as it comes
  inherit,  // this process's own stdout / stderr
  discard,  // /dev/null
};

// Called with one line, without its newline, from fray's process thread: do
// not block in it.
using LineCallback = std::function<void(std::string_view line)>;

struct RunOptions {
  // Added to the env's variables for this run (they win over them).
  std::map<std::string, std::string> env;
  // The working directory; unset: this process's.
  std::optional<std::filesystem::path> cwd;
  // Written to the process's stdin, which is then closed. Unset: /dev/null,
  // or this process's stdin with inherit_stdin.
  std::optional<std::string> input;
  bool inherit_stdin = false;
  Output stdout_mode = Output::capture;
  Output stderr_mode = Output::capture;
  LineCallback on_stdout;
  LineCallback on_stderr;
  // When it passes, the process group gets SIGTERM, then SIGKILL after
  // kill_grace, and run() fails with ProcessTimeout.
  std::optional<std::chrono::milliseconds> timeout;
  std::chrono::milliseconds kill_grace = std::chrono::seconds(2);
  // Throw ProcessFailed when the process exits non-zero or is killed.
  bool check = false;
  // Hand the controlling terminal to the process's group while it runs (an
  // interactive `fray run`); only when this process is in the foreground.
  bool foreground = false;
  // Called once the process runs, with its pid (= its process group id), on
  // fray's process thread; a short process may already have ended by then.
  std::function<void(int pid)> on_spawn;

  RunOptions& with_env(std::string key, std::string value) { env[std::move(key)] = std::move(value); return *this; }
  RunOptions& with_cwd(std::filesystem::path dir) { cwd = std::move(dir); return *this; }
  RunOptions& with_input(std::string data) { input = std::move(data); return *this; }
  RunOptions& with_inherited_stdio() {
    inherit_stdin = true;
    stdout_mode = stderr_mode = Output::inherit;
    return *this;
  }
  RunOptions& with_stdout(Output mode) { stdout_mode = mode; return *this; }
  RunOptions& with_stderr(Output mode) { stderr_mode = mode; return *this; }
  RunOptions& stream_stdout(LineCallback callback) {
    stdout_mode = Output::stream;
    on_stdout = std::move(callback);
    return *this;
  }
  RunOptions& stream_stderr(LineCallback callback) {
    stderr_mode = Output::stream;
    on_stderr = std::move(callback);
    return *this;
  }
  // Any duration type; saturated at fray::never_duration (100 years: never), so
  // hours::max() means never rather than overflowing milliseconds.
  template <class Rep, class Period>
  RunOptions& with_timeout(std::chrono::duration<Rep, Period> value) {
    timeout = clamp_duration<std::chrono::milliseconds>(value);
    return *this;
  }
  template <class Rep, class Period>
  RunOptions& with_kill_grace(std::chrono::duration<Rep, Period> value) {
    kill_grace = clamp_duration<std::chrono::milliseconds>(value);
    return *this;
  }
  RunOptions& with_check(bool value = true) { check = value; return *this; }
};

}  // namespace fray
