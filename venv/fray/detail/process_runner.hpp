// Starting and supervising child processes on fray's process thread: its own
// Asio event loop, started on first use, so processes outlive no runtime and
// PR_SET_PDEATHSIG (which follows the thread that forked) stays armed for as
// long as the program runs.
//
// Each child runs under its child guard (fray/detail/child_guard.hpp), in a
// process group of its own with PR_SET_PDEATHSIG(SIGKILL). When it exits,
// whatever it started (in any group or session) is killed and reaped before
// its run completes. On timeout or cancel every process of its tree gets
// SIGTERM, then SIGKILL after the grace period. Every child is reaped; every
// descriptor is O_CLOEXEC.
#pragma once

#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "fray/future.hpp"
#include "fray/process_result.hpp"
#include "fray/run_options.hpp"

namespace fray::detail {

struct ProcessSpec {
  std::filesystem::path executable;  // absolute
  std::vector<std::string> args;     // after argv[0] (argv[0] is the executable)
  std::vector<std::string> env;      // "KEY=VALUE": the child's whole environment
};

class RunOperation;

// The processes one owner (an IsolatedVirtualEnv) started that still run.
class ProcessSet {
 public:
  // False once closed.
  bool add(const std::shared_ptr<RunOperation>& operation);
  void remove(const RunOperation* operation) noexcept;
  // Stops every process (their futures fail with TaskCancelled) and waits
  // until all are reaped, unless called on the process thread.
  void close() noexcept;
  bool closed() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::vector<std::pair<const RunOperation*, std::weak_ptr<RunOperation>>> live_;
  bool closed_ = false;
};

// Starts the process: at once on an idle guard of the process thread's when
// one is idle, else on the process thread. The future completes once it is
// reaped and its output drained; cancel() on it stops the process group.
Future<ProcessResult> start_process(ProcessSpec spec, RunOptions options,
                                    std::shared_ptr<ProcessSet> owner = nullptr);

// The event loop processes are supervised on.
boost::asio::io_context& process_context();
bool on_process_thread() noexcept;
// Starts a child guard on the process thread ahead of the next
// start_process (start_idle_guard), and returns at once.
void start_process_guard_ahead();

}  // namespace fray::detail
