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

// Called on fray's worker I/O thread, one thread for every pool and actor:
// do not block in it. A worker's lines reach it in turns of at most 128
// lines (about 16 KiB), taken in turn with the other workers' answers and
// logs, so a slow sink delays only its own worker's logs (and, once that
// worker's pipe is full, its prints), never another pool's answers by more
// than a turn.
using WorkerLogSink = std::function<void(const WorkerLogLine&)>;

// The default sink: "(label pid=N) line" on stderr.
void log_to_stderr(const WorkerLogLine& line);

}  // namespace fray
