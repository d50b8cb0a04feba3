#include "fray/detail/process_runner.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <optional>
#include <thread>

#include "fray/detail/child_launch.hpp"
#include "fray/detail/event_loop.hpp"
#include "fray/detail/line_splitter.hpp"
#include "fray/detail/posix_fd.hpp"
#include "fray/duration_limit.hpp"
#include "fray/venv_errors.hpp"

namespace fray::detail {

namespace {
// An error as an exception_ptr, its temporary gone by the time this
// returns (see RunOperation::outcome_error).
template <class E>
std::exception_ptr made_error() {
  return std::make_exception_ptr(E());
}
}  // namespace

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// The process thread: an event loop of its own, which launches the children
// (so their PR_SET_PDEATHSIG stays armed as long as the program runs).
class ProcessThread {
 public:
  static ProcessThread& instance() {
    static ProcessThread thread;
    return thread;
  }
  asio::io_context& io() { return loop_.context(); }
  bool is_current() const noexcept { return thread_id_.load(std::memory_order_acquire) == std::this_thread::get_id(); }

 private:
  ProcessThread() {
    asio::post(loop_.context(), [this] {
      // A write to a pipe whose reader is gone fails with EPIPE instead of
      // killing the program; tcsetpgrp from the background is allowed. The
      // children undo this before exec.
      sigset_t blocked;
      sigemptyset(&blocked);
      sigaddset(&blocked, SIGPIPE);
      sigaddset(&blocked, SIGTTOU);
      pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
      share_idle_guards();
      thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
    });
  }

  EventLoop loop_;
  std::atomic<std::thread::id> thread_id_{};
};

constexpr std::chrono::milliseconds kDrainBound{500};

}  // namespace

enum class StopReason { none, timeout, cancelled, closed };

asio::io_context& process_context() { return ProcessThread::instance().io(); }
bool on_process_thread() noexcept { return ProcessThread::instance().is_current(); }
void start_process_guard_ahead() {
  asio::post(process_context(), [] { start_idle_guard(); });
}

// One running process: handed to an idle guard on the thread that asked
// for it when one is idle (the child starts without waiting for the
// process thread to wake), else launched on the process thread; read,
// timed and reaped there. The future's cancel hook posts a stop there.
class RunOperation : public std::enable_shared_from_this<RunOperation>, private CancelHook {
  // Allocated when the first read is posted, not cleared: most runs print
  // little or nothing.
  static constexpr std::size_t kOutputChunk = 16384;
  using OutputBuffer = std::unique_ptr<char[]>;

 public:
  RunOperation(ProcessSpec spec, RunOptions options, std::shared_ptr<ProcessSet> owner)
      : spec_(std::move(spec)),
        options_(std::move(options)),
        owner_(std::move(owner)),
        io_(process_context()),
        deadline_(io_),
        grace_(io_),
        drain_(io_),
        state_(new SharedState<ProcessResult>(2)),
        exit_watch_(io_) {
    state_->try_start();
    on_cancel = [](CancelHook* self) noexcept {
      static_cast<RunOperation*>(self)->request_stop(StopReason::cancelled);
    };
    // Nobody has the future yet, so nobody can have cancelled it.
    state_->set_cancel_hook(this);
  }

  RunOperation(const RunOperation&) = delete;

  ~RunOperation() {
    for (int& fd : child_ends_) close_fd(fd);
    // Only when the loop is torn down with the process still running (the
    // program is exiting): no zombie even then.
    if (launched_.guard > 0 && !reaped_) abandon_child(launched_);
    if (!finished_) complete(made_error<RuntimeStopped>());
  }

  Future<ProcessResult> future() { return Future<ProcessResult>(state_); }

  void request_stop(StopReason reason) noexcept {
    try {
      asio::post(io_, [weak = weak_from_this(), reason] {
        if (auto self = weak.lock()) self->stop(reason);
      });
    } catch (...) {
      // Out of memory while posting: the timeout or the env's close still stops it.
    }
  }

  // On the thread that asked for the run, when it is not the process
  // thread: hands the child to an idle guard of the process thread's now,
  // so the child starts while that thread wakes up; start() learns the rest.
  void hand_over_ahead() noexcept {
    // The terminal is handed over on the process thread; a closed env
    // starts nothing (close() stops this run too, once it started).
    if (options_.foreground || (owner_ && owner_->closed())) return;
    try {
      prepare();
      pending_.emplace(hand_to_shared_guard(child_));
    } catch (...) {
      early_error_ = std::current_exception();
    }
  }

  // On the process thread.
  void start() {
    if (pending_stop_ != StopReason::none && !(pending_ && pending_->delivered())) return refuse_unstarted();
    try {
      launch();
    } catch (...) {
      reaped_ = true;
      out_open_ = err_open_ = false;
      armed_ = true;
      complete(std::current_exception());
      return;
    }
    armed_ = true;
    if (options_.on_spawn) {
      try {
        options_.on_spawn(pid_);
      } catch (...) {
      }
    }
    watch_exit();
    if (out_pipe_) read_more(out_pipe_.get(), out_buffer_, true);
    if (err_pipe_) read_more(err_pipe_.get(), err_buffer_, false);
    if (in_pipe_) {
      asio::async_write(*in_pipe_, asio::buffer(*options_.input),
                        [self = shared_from_this()](const boost::system::error_code&, std::size_t) {
                          // EPIPE when the child does not read it all: fine.
                          boost::system::error_code ignored;
                          self->in_pipe_->close(ignored);
                        });
    }
    // A timeout of 100 years or more is no timeout (now() + it would overflow).
    // From the launch, which a hand-over made before the process thread
    // got here.
    if (options_.timeout && !is_never(*options_.timeout)) {
      deadline_.expires_at(started_ + *options_.timeout);
      deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
        if (!error) self->stop(StopReason::timeout);
      });
    }
    // Asked for before it started.
    if (pending_stop_ != StopReason::none) stop(std::exchange(pending_stop_, StopReason::none));
  }

 private:
  // The child's descriptors and launch request. Our ends are O_CLOEXEC
  // from the start, so a fork elsewhere in the program inherits none of
  // them; the child's ends (dup2'ed onto 0, 1, 2 in the child) are closed
  // once it started.
  void prepare() {
    prepared_ = true;
    auto output_fd = [&](Output mode, int own, std::unique_ptr<asio::readable_pipe>& pipe) -> int {
      switch (mode) {
        case Output::inherit:
          return own;
        case Output::discard: {
          const int fd = open_cloexec("/dev/null", O_WRONLY);
          if (fd < 0) throw ProcessLaunchFailed(fmt::format("cannot open /dev/null: {}", std::strerror(errno)));
          child_ends_.push_back(fd);
          return fd;
        }
        case Output::capture:
        case Output::stream:
          break;
      }
      int ends[2];
      if (::pipe2(ends, O_CLOEXEC) != 0) throw ProcessLaunchFailed(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
      child_ends_.push_back(ends[1]);
      pipe = std::make_unique<asio::readable_pipe>(io_, ends[0]);
      return ends[1];
    };

    if (options_.input) {
      int ends[2];
      if (::pipe2(ends, O_CLOEXEC) != 0) throw ProcessLaunchFailed(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
      child_ends_.push_back(ends[0]);
      in_pipe_ = std::make_unique<asio::writable_pipe>(io_, ends[1]);
      child_.stdin_fd = ends[0];
    } else if (options_.inherit_stdin) {
      child_.stdin_fd = STDIN_FILENO;
    } else {
      child_.stdin_fd = open_cloexec("/dev/null", O_RDONLY);
      if (child_.stdin_fd < 0) throw ProcessLaunchFailed(fmt::format("cannot open /dev/null: {}", std::strerror(errno)));
      child_ends_.push_back(child_.stdin_fd);
    }
    child_.stdout_fd = output_fd(options_.stdout_mode, STDOUT_FILENO, out_pipe_);
    child_.stderr_fd = output_fd(options_.stderr_mode, STDERR_FILENO, err_pipe_);
    out_open_ = out_pipe_ != nullptr;
    err_open_ = err_pipe_ != nullptr;

    child_.executable = spec_.executable;
    child_.args = std::move(spec_.args);
    child_.env = std::move(spec_.env);
    child_.cwd = options_.cwd;
    started_ = Clock::now();
  }

  void launch() {
    struct CloseChildEnds {
      std::vector<int>& fds;
      ~CloseChildEnds() {
        for (int& fd : fds) close_fd(fd);
        fds.clear();
      }
    } close_ends{child_ends_};
    if (early_error_) std::rethrow_exception(early_error_);
    if (!prepared_) prepare();
    if (options_.foreground && ::isatty(STDIN_FILENO) && ::tcgetpgrp(STDIN_FILENO) == ::getpgrp()) {
      child_.terminal = STDIN_FILENO;
      terminal_ = STDIN_FILENO;
    }
    try {
      if (pending_) {
        launched_ = finish_launch(*pending_, child_);
        pending_.reset();
      } else {
        launched_ = launch_child(child_);
      }
      pid_ = launched_.pid;
    } catch (...) {
      restore_terminal();
      throw;
    }
    result_.pid = pid_;
  }

  // Stopped (cancelled, or its env closed) before anything started it:
  // it never starts.
  void refuse_unstarted() {
    pending_.reset();  // retires the guard it may hold, which has no request
    armed_ = true;
    reaped_ = true;
    out_open_ = err_open_ = false;
    const std::string name = spec_.executable.filename().string();
    complete(std::make_exception_ptr(TaskCancelled(
        pending_stop_ == StopReason::closed ? fmt::format("{} was not started: its isolated env was closed", name)
                                            : fmt::format("{} was cancelled before it started", name))));
  }

  void watch_exit() {
    exit_watch_.start(launched_, [self = shared_from_this()] { self->on_exit(); });
  }

  void on_exit() {
    if (reaped_) return;
    // The guard has killed and reaped everything the child left behind, and
    // says how the child ended. (The watch first: the guard's socket may be
    // handed to the next run.)
    exit_watch_.stop();
    const int status = finish_child(launched_, signalled_);
    reaped_ = true;
    result_.elapsed = Clock::now() - started_;
    if (WIFEXITED(status)) {
      result_.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result_.signal = WTERMSIG(status);
    }
    exit_watch_.stop();
    deadline_.cancel();
    grace_.cancel();
    restore_terminal();
    if (out_open_ || err_open_) {
      // A descendant outside the group may hold the pipes open: bound the drain.
      drain_.expires_after(kDrainBound);
      drain_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
        if (error) return;
        boost::system::error_code ignored;
        if (self->out_pipe_) self->out_pipe_->close(ignored);
        if (self->err_pipe_) self->err_pipe_->close(ignored);
      });
    }
    maybe_finish();
  }

  void stop(StopReason reason) {
    if (!armed_) {  // not started yet: start() stops it
      if (pending_stop_ == StopReason::none) pending_stop_ = reason;
      return;
    }
    if (finished_ || reaped_ || stop_ != StopReason::none || launched_.guard <= 0) return;
    stop_ = reason;
    signalled_ = true;
    terminate_tree(launched_.guard);
    grace_.expires_after(clamp_duration<std::chrono::milliseconds>(options_.kill_grace));
    grace_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
      if (error || self->reaped_) return;
      kill_tree(self->launched_.guard);
    });
  }

  void read_more(asio::readable_pipe* pipe, OutputBuffer& buffer, bool is_out) {
    if (!buffer) buffer = std::make_unique_for_overwrite<char[]>(kOutputChunk);
    pipe->async_read_some(asio::buffer(buffer.get(), kOutputChunk), [self = shared_from_this(), pipe, &buffer, is_out](
                                                     const boost::system::error_code& error, std::size_t n) {
      if (n > 0) self->deliver(is_out, std::string_view(buffer.get(), n));
      if (error) {
        self->deliver_rest(is_out);
        boost::system::error_code ignored;
        pipe->close(ignored);
        (is_out ? self->out_open_ : self->err_open_) = false;
        self->maybe_finish();
        return;
      }
      self->read_more(pipe, buffer, is_out);
    });
  }

  void deliver(bool is_out, std::string_view data) {
    const Output mode = is_out ? options_.stdout_mode : options_.stderr_mode;
    if (mode == Output::capture) {
      (is_out ? result_.out : result_.err).append(data);
      return;
    }
    const LineCallback& callback = is_out ? options_.on_stdout : options_.on_stderr;
    (is_out ? out_lines_ : err_lines_).feed(data, [&](std::string_view line) { emit(callback, line); });
  }

  void deliver_rest(bool is_out) {
    const LineCallback& callback = is_out ? options_.on_stdout : options_.on_stderr;
    (is_out ? out_lines_ : err_lines_).finish([&](std::string_view line) { emit(callback, line); });
  }

  static void emit(const LineCallback& callback, std::string_view line) {
    if (!callback) return;
    try {
      callback(line);
    } catch (...) {
      // A callback's failure must not lose the process: ignore it.
    }
  }

  void restore_terminal() noexcept {
    if (terminal_ < 0) return;
    ::tcsetpgrp(terminal_, ::getpgrp());  // SIGTTOU is blocked on this thread
    terminal_ = -1;
  }

  void maybe_finish() {
    if (finished_ || !reaped_ || out_open_ || err_open_) return;
    drain_.cancel();
    deadline_.cancel();
    grace_.cancel();
    if (in_pipe_) {
      boost::system::error_code ignored;
      in_pipe_->close(ignored);
    }
    if (std::exception_ptr error = outcome_error()) {
      complete(std::move(error));
    } else {
      complete(std::move(result_));
    }
  }

  // The error the run ends with, if any. Built here so that the exception's
  // temporaries (message strings shared with the stored copy) are gone
  // before the future is completed: the waiter may drop the last copy on
  // its own thread at once.
  std::exception_ptr outcome_error() {
    const std::string name = spec_.executable.filename().string();
    switch (stop_) {
      case StopReason::timeout:
        return std::make_exception_ptr(ProcessTimeout(
            fmt::format("{} (pid {}) did not finish within {} ms: it and every process it started were killed", name, pid_,
                        options_.timeout->count()),
            std::move(result_)));
      case StopReason::cancelled:
        return std::make_exception_ptr(TaskCancelled(fmt::format("{} (pid {}) was cancelled", name, pid_)));
      case StopReason::closed:
        return std::make_exception_ptr(
            TaskCancelled(fmt::format("{} (pid {}) was stopped: its isolated env was closed", name, pid_)));
      case StopReason::none:
        if (options_.check && !result_.ok()) {
          const std::string how = result_.signal != 0 ? fmt::format("was killed by signal {}", result_.signal)
                                                      : fmt::format("exited with status {}", result_.exit_code);
          return std::make_exception_ptr(ProcessFailed(fmt::format("{} {}", name, how), std::move(result_)));
        }
        return nullptr;
    }
    return nullptr;
  }

  void complete(std::exception_ptr error) noexcept {
    if (!unhook()) return;
    state_->complete_with_error(std::move(error));
    finish_bookkeeping();
  }
  void complete(ProcessResult&& result) noexcept {
    if (!unhook()) return;
    state_->set_value(std::move(result));
    finish_bookkeeping();
  }
  bool unhook() noexcept {
    if (finished_) return false;
    finished_ = true;
    state_->clear_cancel_hook();  // after this, cancel() no longer reaches us
    return true;
  }
  void finish_bookkeeping() noexcept {
    state_->release();
    if (owner_) owner_->remove(this);
  }

  ProcessSpec spec_;
  RunOptions options_;
  std::shared_ptr<ProcessSet> owner_;
  asio::io_context& io_;
  asio::steady_timer deadline_, grace_, drain_;
  SharedState<ProcessResult>* state_;

  std::unique_ptr<asio::readable_pipe> out_pipe_, err_pipe_;
  std::unique_ptr<asio::writable_pipe> in_pipe_;
  ChildExitWatch exit_watch_;
  OutputBuffer out_buffer_, err_buffer_;
  LineSplitter out_lines_, err_lines_;

  ChildLaunch child_;
  std::vector<int> child_ends_;  // the child's ends of its descriptors, until it started
  bool prepared_ = false;
  std::optional<PendingLaunch> pending_;  // handed to a guard by hand_over_ahead
  std::exception_ptr early_error_;        // what hand_over_ahead met
  bool armed_ = false;  // start() ran: stop() may act (both on the process thread)
  StopReason pending_stop_ = StopReason::none;
  LaunchedChild launched_;  // its guard: signalled, watched and finished
  bool signalled_ = false;  // the guard was told to stop the tree: never reuse it
  pid_t pid_ = -1;    // the program's own pid, for the result and messages
  int terminal_ = -1;
  Clock::time_point started_{};
  bool reaped_ = false, out_open_ = false, err_open_ = false, finished_ = false;
  StopReason stop_ = StopReason::none;
  ProcessResult result_;
};

bool ProcessSet::add(const std::shared_ptr<RunOperation>& operation) {
  std::lock_guard guard(mutex_);
  if (closed_) return false;
  live_.emplace_back(operation.get(), operation);
  return true;
}

void ProcessSet::remove(const RunOperation* operation) noexcept {
  std::lock_guard guard(mutex_);
  std::erase_if(live_, [operation](const auto& entry) { return entry.first == operation; });
  if (live_.empty()) idle_.notify_all();
}

bool ProcessSet::closed() const {
  std::lock_guard guard(mutex_);
  return closed_;
}

void ProcessSet::close() noexcept {
  std::vector<std::weak_ptr<RunOperation>> running;
  {
    std::lock_guard guard(mutex_);
    closed_ = true;
    for (auto& entry : live_) running.push_back(entry.second);
  }
  for (auto& weak : running) {
    if (auto operation = weak.lock()) {
      try {
        operation->request_stop(StopReason::closed);
      } catch (...) {
      }
    }
  }
  if (on_process_thread()) return;  // waiting here would block what we wait for
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return live_.empty(); });
}

Future<ProcessResult> start_process(ProcessSpec spec, RunOptions options, std::shared_ptr<ProcessSet> owner) {
  if (options.timeout) check_not_negative(*options.timeout, "RunOptions::timeout");
  check_not_negative(options.kill_grace, "RunOptions::kill_grace");
  if (options.stdout_mode == Output::stream && !options.on_stdout) options.stdout_mode = Output::discard;
  if (options.stderr_mode == Output::stream && !options.on_stderr) options.stderr_mode = Output::discard;
  auto operation = std::make_shared<RunOperation>(std::move(spec), std::move(options), owner);
  auto future = operation->future();
  if (owner && !owner->add(operation)) {
    throw Error("the isolated env is closed: no new processes");
  }
  if (!on_process_thread()) operation->hand_over_ahead();
  asio::post(process_context(), [operation] { operation->start(); });
  return future;
}

}  // namespace fray::detail
