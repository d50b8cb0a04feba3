#include "fray/python_errors.hpp"

#include <fmt/format.h>

#include <cstdio>

#include "fray/worker_log.hpp"

namespace fray {

namespace {

std::string python_error_text(const std::string& type, const std::string& module, const std::string& message,
                              const std::string& traceback) {
  const std::string qualified = module.empty() || module == "builtins" ? type : module + "." + type;
  std::string text = message.empty() ? qualified : qualified + ": " + message;
  if (!traceback.empty()) text += "\n" + traceback;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

}  // namespace

PythonError::PythonError(std::string type, std::string module, std::string message, std::string traceback)
    : Error(python_error_text(type, module, message, traceback)),
      type_(std::move(type)),
      module_(std::move(module)),
      message_(std::move(message)),
      traceback_(std::move(traceback)) {}

WorkerCrashed::WorkerCrashed(const std::string& what, int pid, std::optional<int> exit_code, std::optional<int> signal,
                             std::vector<std::string> last_stderr)
    : Error(what), pid_(pid), exit_code_(exit_code), signal_(signal), last_stderr_(std::move(last_stderr)) {}

void log_to_stderr(const WorkerLogLine& line) {
  // One fprintf per line, so lines of different workers do not interleave.
  std::fprintf(stderr, "(%.*s pid=%d) %.*s\n", int(line.worker.size()), line.worker.data(), line.pid,
               int(line.line.size()), line.line.data());
}

}  // namespace fray
