// Where Python workers' stdout and stderr go: one line at a time, tagged with
// the worker, to a sink of yours or (by default) to this process's stderr as
// "(python#1 pid=1234) the line".
#pragma once

#include <functional>
#include <string_view>

namespace fray {

struct WorkerLogLine {
  std::string_view worker;  // the worker's label: "<pool or actor name>#<n>"
  int pid = 0;
  bool is_stderr = false;
  std::string_view line;  // without its newline
};

// Called on fray's worker I/O thread: do not block in it.
using WorkerLogSink = std::function<void(const WorkerLogLine&)>;

// The default sink: "(label pid=N) line" on stderr.
void log_to_stderr(const WorkerLogLine& line);

}  // namespace fray
