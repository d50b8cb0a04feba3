// The errors of Python workers (Ray: RayTaskError wrapping the Python
// exception, WorkerCrashedError, ...). All derive from fray::Error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fray/errors.hpp"

namespace fray {

// The Python code raised: the exception's type ("ValueError", qualified by
// its module unless builtin), message and formatted traceback. what() holds
// all three, so an uncaught one explains itself.
class PythonError : public Error {
 public:
  PythonError(std::string type, std::string module, std::string message, std::string traceback);
  // The exception's class name, e.g. "ValueError" or "MyError".
  const std::string& type() const noexcept { return type_; }
  // The module the class is defined in ("builtins" for built-in exceptions).
  const std::string& module() const noexcept { return module_; }
  const std::string& message() const noexcept { return message_; }
  // traceback.format_exception(...) joined: "Traceback (most recent call last): ..."
  const std::string& traceback() const noexcept { return traceback_; }

 private:
  std::string type_, module_, message_, traceback_;
};

// "pkg.module:function" (or an actor's class or method) does not exist: the
// module cannot be imported, or has no such attribute. type() says which.
class PythonFunctionNotFound : public PythonError {
 public:
  using PythonError::PythonError;
};

// The worker process died while it ran the call: a crash (segfault),
// os._exit, a kill signal, the kernel's OOM killer. The pool has replaced it.
class WorkerCrashed : public Error {
 public:
  WorkerCrashed(const std::string& what, int pid, std::optional<int> exit_code, std::optional<int> signal,
                std::vector<std::string> last_stderr);
  int pid() const noexcept { return pid_; }
  // Set when the worker exited (os._exit(n), sys.exit), else empty.
  const std::optional<int>& exit_code() const noexcept { return exit_code_; }
  // Set when a signal killed it (SIGSEGV, SIGKILL from the OOM killer...).
  const std::optional<int>& signal() const noexcept { return signal_; }
  // The worker's last lines on stderr (a Python crash dump, say).
  const std::vector<std::string>& last_stderr() const noexcept { return last_stderr_; }

 private:
  int pid_;
  std::optional<int> exit_code_, signal_;
  std::vector<std::string> last_stderr_;
};

// The call ran past its timeout: its worker's process group was killed and
// the worker replaced.
class PythonCallTimeout : public Error {
 public:
  using Error::Error;
};

// The call did not start within its queue timeout
// (PythonCallOptions::queue_timeout): it never ran, and no worker was
// touched. A PythonCallTimeout, so code that catches timeouts catches both.
class PythonCallQueueTimeout : public PythonCallTimeout {
 public:
  using PythonCallTimeout::PythonCallTimeout;
};

// A request or a result is larger than the frame size limit
// (WorkerPoolOptions::max_frame_bytes); nothing crashed, the worker stays.
class FrameTooLarge : public Error {
 public:
  using Error::Error;
};

// JSON that cannot cross between C++ and Python (fray/python_json.hpp): an
// argument or a result nested deeper than max_python_json_depth, a NaN or
// an infinity, a string or key that is not valid UTF-8 (or, from Python, a
// lone surrogate), an integer beyond 64 bits. An argument is refused before
// it is sent; a result fails its call only. The worker stays.
class UnsupportedJson : public Error {
 public:
  using Error::Error;
};

// The worker program (fray_worker.py) is not where fray looks for it.
class WorkerProgramNotFound : public Error {
 public:
  using Error::Error;
};

}  // namespace fray
