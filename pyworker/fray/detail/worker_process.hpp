// One Python worker process and its pipes: requests out on one descriptor,
// answers in on another (their numbers are on the worker's command line), stdout and stderr read
// line by line into the owner's log sink. The worker says which request
// starts and answers each as it finishes (worker_protocol.hpp), so this
// side always knows which calls finished, which one runs and which never
// started: a crash, a timeout or a cancel hits exactly its own call.
//
// Threads: any thread may send() (with the owner's mutex held: the frame is
// written to the pipe at once, no hop to another thread). Everything else,
// the launch, reading, timers, exit and reaping, runs on fray's worker I/O
// thread. The launch happens there too because PR_SET_PDEATHSIG follows the
// thread that forked, and that thread lives as long as the program.
//
// Fairness on that one thread: a wake-up of a pipe reads a bounded amount
// (a log pipe about 16 KiB or 128 lines, the answer pipe about 256 KiB) and
// then, if the pipe still holds data, posts its next turn behind the other
// workers' completions. So the log sink runs on the I/O thread at most 128
// lines per turn per worker, and a slow sink delays only its own worker's
// logs (and, once the pipe fills, that worker's prints), not other answers.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <functional>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "fray/detail/child_launch.hpp"
#include "fray/detail/line_splitter.hpp"
#include "fray/detail/pending_call.hpp"
#include "fray/detail/worker_io.hpp"
#include "fray/detail/worker_journal.hpp"
#include "fray/detail/worker_owner.hpp"
#include "fray/detail/worker_protocol.hpp"
#include "fray/worker_log.hpp"

namespace fray::detail {

struct WorkerLaunch {
  std::string python;            // the env's bin/python
  std::string script;            // fray_worker.py
  std::vector<std::string> env;  // KEY=VALUE, the whole environment
  std::string cwd;               // empty: this process's
  std::size_t max_frame_bytes = 0;
  std::chrono::milliseconds cancel_grace{0};
};

// "the Python worker L (pid N) was killed by signal 9 (SIGKILL) while it ran the call; its last lines on stderr: ..."
std::string crash_message(const std::string& label, const WorkerExit& exit);

// `python` running the worker program at `script`, before its arguments
// (worker_launch.cpp).
std::vector<std::string> worker_command(const std::string& python, const std::string& script);

class WorkerProcess : public std::enable_shared_from_this<WorkerProcess> {
 public:
  // How often this side reads the journal of a worker running calls
  // expected to be short (next_deadline_locked).
  static constexpr std::chrono::milliseconds kLookEvery{2};

  // Creates the pipes (any thread); start() launches it on the I/O thread.
  WorkerProcess(std::shared_ptr<WorkerOwner> owner, std::shared_ptr<const WorkerLaunch> launch, std::string label);
  WorkerProcess(const WorkerProcess&) = delete;
  ~WorkerProcess();

  // Posts the launch to the I/O thread.
  void start();

  // With the owner's mutex held, any thread: writes the request now (what
  // the pipe cannot take yet goes out when it drains).
  void send_locked(PendingCall* call, bool flush = true);
  // Writes what send_locked(call, false) left in the buffer.
  void flush_locked();
  // Stops sending to it: the worker gets end of file (and exits) once it has
  // answered what it got.
  void close_input_locked();
  // Kills the process group and every descendant (SIGKILL); `cause` says
  // why in on_exit.
  void kill_locked(WorkerExit::Cause cause);
  // On the I/O thread. `call` (sent here) is cancelled: dropped unstarted
  // (answered TaskCancelled), or interrupted if it runs (KeyboardInterrupt,
  // then kill_locked(cancel) if it still runs after the grace period);
  // nothing happens to the call running instead.
  void cancel_locked(PendingCall* call);
  // On the I/O thread. Asks for `call` back if it has not started
  // (owner's on_withdrawn); if it has, it just runs here.
  void withdraw_locked(PendingCall* call);
  // The call running now, as far as the journal read so far says.
  PendingCall* running() const noexcept { return running_; }
  // On the I/O thread, without the owner's mutex: reads the journal now
  // (it is read when the worker rings, and this side may need to know more
  // recent news: before a cancel, a timeout).
  void catch_up();

  const std::string& label() const noexcept { return label_; }
  int pid() const noexcept { return pid_; }
  bool exited() const noexcept { return exited_; }
  bool accepting() const noexcept { return input_open_ && cause_ == WorkerExit::Cause::none; }

  // Calls sent and not answered, in the order sent (owner's mutex).
  std::deque<PendingCall*> inflight;
  std::uint64_t calls_sent = 0;
  std::uint64_t calls_started = 0;
  std::chrono::steady_clock::time_point idle_since{};

 private:
  void spawn();
  void fail_launch(std::string why);
  void wait_writable();
  // What a read turn left: the pipe is drained (wait for it to be readable,
  // or for the bell), it still holds data (post another turn: asio waits for
  // a new edge, so waiting on a pipe that is still readable would hang), or
  // it is closed.
  enum class Pump { drained, more, closed };
  void read_answers();
  bool drain_bell();
  void journal_turn();
  Pump pump_answers(bool final);
  void read_log(int which);
  void log_turn(int which);
  Pump pump_log(int which);
  void log_bytes(int which, const char* data, std::size_t n, bool final);
  void on_exited();
  // Applies one frame of the worker's, with the owner's mutex held.
  void take_answer_locked(WorkerAnswer& answer, Completions& done);
  void on_started_locked(PendingCall* call, std::chrono::steady_clock::time_point at);
  std::deque<PendingCall*>::iterator find_inflight_locked(std::uint64_t seq);
  PendingCall* take_inflight_locked(std::uint64_t seq);
  void end_input_if_done_locked();
  // SIGINT once what is written so far has reached the worker (it reads its
  // control frames when the signal comes).
  void interrupt_after_flush_locked();
  // The watch timer: the next time a call's timeout or cancel grace may
  // end, it reads the journal and kills the worker if the running call is
  // past one of them.
  void arm_watch_locked();
  void on_watch();
  std::optional<std::chrono::steady_clock::time_point> next_deadline_locked(
      std::chrono::steady_clock::time_point now) const;

  std::shared_ptr<WorkerOwner> owner_;  // until it exits (then the cycle breaks)
  std::shared_ptr<const WorkerLaunch> launch_;
  std::string label_;
  boost::asio::io_context& io_;

  // Our ends, and the child's until the launch.
  WorkerJournal journal_;
  int to_worker_ = -1, bell_read_ = -1, out_read_ = -1, err_read_ = -1;
  int child_in_ = -1, child_bell_ = -1, child_stdout_ = -1, child_stderr_ = -1;
  int pid_ = -1;    // the worker's own pid (SIGINT for cancels goes here)
  int guard_ = -1;  // its child guard: watched, reaped, and told to kill the tree

  // Guarded by the owner's mutex.
  std::string out_;
  std::size_t out_sent_ = 0;
  bool input_open_ = true;
  bool write_wait_posted_ = false;
  bool started_ = false;
  bool exited_ = false;
  bool killed_ = false;
  bool interrupt_pending_ = false;  // SIGINT due once out_ is written
  bool end_input_pending_ = false;  // close_input_locked() was called
  std::chrono::steady_clock::time_point last_look_{};  // the journal was last read
  WorkerExit::Cause cause_ = WorkerExit::Cause::none;
  std::uint64_t kill_seq_ = 0;  // the call a timeout or cancel kill was for
  std::uint64_t next_seq_ = 0;
  PendingCall* running_ = nullptr;

  // I/O thread only.
  // Not the journal: nothing polls it.
  std::unique_ptr<boost::asio::posix::stream_descriptor> bell_, requests_;
  std::array<std::unique_ptr<boost::asio::posix::stream_descriptor>, 2> logs_;
  std::array<LineSplitter, 2> log_lines_;
  // Read from a log pipe, not yet given to the sink (past its turn's lines).
  std::array<std::string, 2> log_held_;
  std::array<std::size_t, 2> log_held_at_{};
  std::deque<std::string> last_stderr_;
  std::string in_;
  std::size_t in_used_ = 0;
  bool expecting_answers_ = false;
  bool journal_continues_ = false;  // a turn of the journal is posted
  boost::asio::steady_timer watch_timer_;
  // Guarded by the owner's mutex: when the watch timer is set for, if it is.
  std::optional<std::chrono::steady_clock::time_point> watch_at_;
  ChildExitWatch exit_watch_;
};

}  // namespace fray::detail
