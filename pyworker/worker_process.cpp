#include "fray/detail/worker_process.hpp"

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fray/detail/child_launch.hpp"
#include "fray/detail/frame_length.hpp"
#include "fray/detail/posix_fd.hpp"
#include "fray/duration_limit.hpp"
#include "fray/python_errors.hpp"

namespace fray::detail {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kLastStderrLines = 20;
constexpr std::size_t kReadChunk = 1 << 16;
// What one wake-up of a pipe reads before it lets the I/O thread's other
// work go first (see worker_process.hpp).
constexpr std::size_t kAnswerBytesPerTurn = 256 << 10;
constexpr std::size_t kLogBytesPerTurn = 16 << 10;
constexpr std::size_t kLogLinesPerTurn = 128;
constexpr std::size_t kLogReadChunk = 8192;

std::string describe_status(const WorkerExit& exit) {
  if (exit.signal) {
    const char* name = ::sigabbrev_np(*exit.signal);
    return fmt::format("was killed by signal {} (SIG{})", *exit.signal, name != nullptr ? name : "?");
  }
  if (exit.exit_code) return fmt::format("exited with status {}", *exit.exit_code);
  return exit.launch_error.empty() ? "ended" : "could not start: " + exit.launch_error;
}

}  // namespace

WorkerProcess::WorkerProcess(std::shared_ptr<WorkerOwner> owner, std::shared_ptr<const WorkerLaunch> launch,
                             std::string label)
    : owner_(owner),
      launch_(std::move(launch)),
      label_(std::move(label)),
      io_(worker_io()),
      watch_timer_(io_),
      exit_watch_(io_) {
  // Requests go through a socket so that a write to a dead worker fails with
  // EPIPE (MSG_NOSIGNAL) on any thread instead of raising SIGPIPE.
  int requests[2], bell[2], out[2], err[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, requests) != 0) {
    throw Error(fmt::format("cannot create a socket pair for a Python worker: {}", std::strerror(errno)));
  }
  to_worker_ = requests[0];
  child_in_ = requests[1];
  auto make_pipe = [](int ends[2]) {
    if (::pipe2(ends, O_CLOEXEC) != 0) throw Error(fmt::format("cannot create a pipe for a Python worker: {}", std::strerror(errno)));
  };
  try {
    make_pipe(bell);
    bell_read_ = bell[0];
    child_bell_ = bell[1];
    make_pipe(out);
    out_read_ = out[0];
    child_stdout_ = out[1];
    make_pipe(err);
    err_read_ = err[0];
    child_stderr_ = err[1];
  } catch (...) {
    for (int* fd : {&to_worker_, &child_in_, &bell_read_, &child_bell_, &out_read_, &child_stdout_, &err_read_,
                    &child_stderr_}) {
      close_fd(*fd);
    }
    throw;
  }
  for (int fd : {to_worker_, bell_read_, out_read_, err_read_}) set_nonblocking(fd);
  // Big requests (a 10 MB argument) go out in fewer wake-ups.
  int size = 1 << 20;
  ::setsockopt(to_worker_, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

WorkerProcess::~WorkerProcess() {
  if (guard_ > 0 && !exited_) {
    // Only when the I/O thread is torn down at exit with the worker alive.
    kill_tree_and_reap(guard_);
  }
  if (requests_) requests_->release();
  for (int* fd : {&to_worker_, &child_in_, &child_bell_, &child_stdout_, &child_stderr_}) close_fd(*fd);
  if (!bell_) close_fd(bell_read_);
  if (!logs_[0]) close_fd(out_read_);
  if (!logs_[1]) close_fd(err_read_);
}

void WorkerProcess::start() {
  asio::post(io_, [self = shared_from_this()] { self->spawn(); });
}

void WorkerProcess::spawn() {
  const WorkerLaunch& launch = *launch_;
  ChildLaunch child;
  std::vector<std::string> command = worker_command(launch.python, launch.script);
  child.executable = command.front();
  child.args.assign(std::make_move_iterator(command.begin() + 1), std::make_move_iterator(command.end()));
  // The protocol's descriptors keep their numbers in the worker, which is told them.
  for (std::string arg : {std::to_string(child_in_), std::to_string(journal_.child_fd()), std::to_string(child_bell_),
                          std::to_string(launch.max_frame_bytes), std::to_string(answer_spin().count())}) {
    child.args.push_back(std::move(arg));
  }
  child.env = launch.env;
  if (!launch.cwd.empty()) child.cwd = launch.cwd;
  int devnull = open_cloexec("/dev/null", O_RDONLY);
  if (devnull < 0) return fail_launch(fmt::format("cannot open /dev/null: {}", std::strerror(errno)));
  child.stdin_fd = devnull;
  child.stdout_fd = child_stdout_;
  child.stderr_fd = child_stderr_;
  child.inherited = {child_in_, journal_.child_fd(), child_bell_};
  LaunchedChild launched;
  std::string launch_error;
  try {
    launched = launch_child(child);
  } catch (const std::exception& e) {
    launch_error = e.what();
  }
  close_fd(devnull);
  for (int* fd : {&child_in_, &child_bell_, &child_stdout_, &child_stderr_}) close_fd(*fd);
  journal_.close_child_fd();
  if (launched.pid < 0) return fail_launch(std::move(launch_error));

  bell_ = std::make_unique<asio::posix::stream_descriptor>(io_, bell_read_);
  requests_ = std::make_unique<asio::posix::stream_descriptor>(io_, to_worker_);
  logs_[0] = std::make_unique<asio::posix::stream_descriptor>(io_, out_read_);
  logs_[1] = std::make_unique<asio::posix::stream_descriptor>(io_, err_read_);
  {
    auto owner = owner_;
    std::lock_guard guard(owner->mutex);
    guard_ = launched.guard;
    pid_ = launched.pid;
    started_ = true;
    if (cause_ != WorkerExit::Cause::none) kill_tree(guard_);  // killed before it ran
    flush_locked();
  }
  read_answers();
  read_log(0);
  read_log(1);
  exit_watch_.start(launched.guard, [self = shared_from_this()] { self->on_exited(); });
}

void WorkerProcess::fail_launch(std::string why) {
  auto owner = std::move(owner_);
  Completions done;
  {
    std::lock_guard guard(owner->mutex);
    exited_ = true;
    WorkerExit exit;
    exit.launch_error = std::move(why);
    exit.cause = cause_;
    Unfinished unfinished;
    unfinished.not_started = std::exchange(inflight, {});
    owner->on_exit(*this, exit, std::move(unfinished), done);
  }
  run_completions(done);
}

void WorkerProcess::send_locked(PendingCall* call, bool flush) {
  const bool was_idle = inflight.empty();
  inflight.push_back(call);
  ++calls_sent;
  call->seq = ++next_seq_;
  call->started = false;
  call->withdrawing = false;
  // Appending while earlier bytes wait batches them into one write.
  const bool was_written = out_sent_ == out_.size();
  append_request(out_, call->seq, call->request, call->expected_short);
  if (flush && was_written) flush_locked();
  if (was_idle) request_answer_spin();
  // Answers can wait behind a call only when there is more than one.
  if (call->timeout || (call->expected_short && inflight.size() > 1)) arm_watch_locked();
}

void WorkerProcess::flush_locked() {
  while (out_sent_ < out_.size()) {
    const ssize_t n = ::send(to_worker_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_sent_ += std::size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (started_ && !write_wait_posted_) {
        write_wait_posted_ = true;
        asio::post(io_, [self = shared_from_this()] { self->wait_writable(); });
      }
      return;
    }
    // The worker is gone (EPIPE): what it never got never started, and its
    // exit sends those calls elsewhere. Nothing more goes to it.
    input_open_ = false;
    interrupt_pending_ = false;
    break;
  }
  out_.clear();
  out_sent_ = 0;
  end_input_if_done_locked();
  if (interrupt_pending_ && started_) {
    interrupt_pending_ = false;
    // Not before its first call: until then it may not have its handler
    // yet, and it reads every frame before it starts a call anyway.
    if (!exited_ && calls_started > 0) ::kill(pid_, SIGINT);
  }
}

void WorkerProcess::wait_writable() {
  requests_->async_wait(asio::posix::stream_descriptor::wait_write,
                        [self = shared_from_this()](const boost::system::error_code& error) {
                          auto owner = self->owner_;
                          if (!owner) return;
                          std::lock_guard guard(owner->mutex);
                          self->write_wait_posted_ = false;
                          if (!error && !self->exited_) self->flush_locked();
                        });
}

void WorkerProcess::close_input_locked() {
  if (!input_open_) return;
  input_open_ = false;
  end_input_pending_ = true;
  end_input_if_done_locked();
}

// End of file reaches the worker once everything sent to it has gone out
// and it has answered every call: until then a cancel or a withdrawal may
// still have to reach it.
void WorkerProcess::end_input_if_done_locked() {
  if (!end_input_pending_ || out_sent_ != out_.size() || !inflight.empty()) return;
  end_input_pending_ = false;
  ::shutdown(to_worker_, SHUT_WR);  // the worker exits once it reads end of file
}

void WorkerProcess::kill_locked(WorkerExit::Cause cause) {
  if (cause_ == WorkerExit::Cause::none) {
    cause_ = cause;
    kill_seq_ = running_ != nullptr ? running_->seq : 0;
  }
  input_open_ = false;
  if (pid_ <= 0 || exited_ || killed_) return;
  killed_ = true;
  // It and everything it started, in any group or session.
  kill_tree(guard_);
}

void WorkerProcess::cancel_locked(PendingCall* call) {
  if (call->cancelling || exited_) return;
  call->cancelling = true;
  call->cancelled_at = Clock::now();
  append_cancel(out_, call->seq);
  // Not started: the worker drops it (answered "dropped"). Running: the
  // SIGINT interrupts it. Started since the journal was read: the handler
  // finds the cancel for the call it runs and interrupts it too.
  interrupt_after_flush_locked();
  arm_watch_locked();  // its grace period
}

void WorkerProcess::withdraw_locked(PendingCall* call) {
  if (call->started || call->withdrawing || call->cancelling || exited_) return;
  call->withdrawing = true;
  append_withdraw(out_, call->seq);
  interrupt_after_flush_locked();  // a busy worker reads it in its handler
}

void WorkerProcess::interrupt_after_flush_locked() {
  interrupt_pending_ = true;
  flush_locked();  // what the pipe cannot take now goes out when it drains, the signal after it
}

std::optional<Clock::time_point> WorkerProcess::next_deadline_locked(Clock::time_point now) const {
  std::optional<Clock::time_point> next;
  // The worker may hold answers back behind a call expected to be short
  // (it rings after it), and a cancelled call may have started unseen:
  // while there are such calls, this side reads the journal itself, every
  // kLookEvery, to deliver those answers and see calls that turned out long.
  const bool pipelined = inflight.size() > 1;
  const bool look = std::any_of(inflight.begin(), inflight.end(), [pipelined](const PendingCall* call) {
    return (pipelined && call->expected_short) || (call->cancelling && !call->started);
  });
  if (look) next = std::max(now, last_look_ + kLookEvery);
  for (const PendingCall* call : inflight) {
    // A call that has not started (as far as this side knows) may start
    // any moment: its deadline is at least its whole allowance from now.
    const Clock::time_point from = call->started ? call->started_at : now;
    Clock::time_point deadline;
    if (call->cancelling) {
      deadline = std::max(from, call->cancelled_at) + clamp_duration<Clock::duration>(launch_->cancel_grace);
    } else if (call->timeout && !is_never(*call->timeout)) {  // 100 years or more: none
      deadline = from + *call->timeout;
    } else {
      continue;
    }
    if (!next || deadline < *next) next = deadline;
  }
  return next;
}

void WorkerProcess::arm_watch_locked() {
  const auto next = next_deadline_locked(Clock::now());
  if (!next || (watch_at_ && *watch_at_ <= *next)) return;
  watch_at_ = next;
  auto set_timer = [](const std::shared_ptr<WorkerProcess>& self, Clock::time_point when) {
    self->watch_timer_.expires_at(when);
    self->watch_timer_.async_wait([self](const boost::system::error_code& error) {
      if (!error) self->on_watch();
    });
  };
  if (on_worker_io_thread()) return set_timer(shared_from_this(), *next);
  // The timer is the I/O thread's. It takes the time when it gets there: an
  // earlier deadline may have come meanwhile.
  asio::post(io_, [self = shared_from_this(), set_timer] {
    auto owner = self->owner_;
    if (!owner) return;
    std::lock_guard guard(owner->mutex);
    if (self->watch_at_) set_timer(self, *self->watch_at_);
  });
}

void WorkerProcess::on_watch() {
  catch_up();  // which call runs, and since when
  auto owner = owner_;
  if (!owner) return;
  std::lock_guard guard(owner->mutex);
  watch_at_.reset();
  if (exited_) return;
  last_look_ = Clock::now();
  owner->on_looked(*this);
  const auto now = Clock::now();
  if (PendingCall* call = running_) {
    if (call->cancelling && now >= std::max(call->started_at, call->cancelled_at) + clamp_duration<Clock::duration>(launch_->cancel_grace)) {
      return kill_locked(WorkerExit::Cause::cancel);
    }
    if (!call->cancelling && call->timeout && !is_never(*call->timeout) && now >= call->started_at + *call->timeout) {
      return kill_locked(WorkerExit::Cause::timeout);
    }
  }
  arm_watch_locked();
}

std::deque<PendingCall*>::iterator WorkerProcess::find_inflight_locked(std::uint64_t seq) {
  // Almost always the oldest call; a dropped one may be any.
  return std::find_if(inflight.begin(), inflight.end(), [seq](PendingCall* c) { return c->seq == seq; });
}

PendingCall* WorkerProcess::take_inflight_locked(std::uint64_t seq) {
  auto it = find_inflight_locked(seq);
  if (it == inflight.end()) return nullptr;
  PendingCall* call = *it;
  inflight.erase(it);
  return call;
}

void WorkerProcess::on_started_locked(PendingCall* call, Clock::time_point at) {
  running_ = call;
  call->started = true;
  call->withdrawing = false;
  call->started_at = at;
  call->start_by.reset();  // it started in time: a retry is not held to it
  ++calls_started;
  // The cancel came after the journal was read last: make sure the handler
  // sees it while this call runs.
  if (call->cancelling) interrupt_after_flush_locked();
  if (call->cancelling || call->timeout) arm_watch_locked();
}

void WorkerProcess::take_answer_locked(WorkerAnswer& answer, Completions& done) {
  using Kind = WorkerAnswer::Kind;
  if (answer.kind == Kind::malformed) {
    kill_locked(WorkerExit::Cause::none);  // the protocol is broken: replace the worker
    return;
  }
  if (answer.kind == Kind::started) {
    auto it = find_inflight_locked(answer.seq);
    if (it != inflight.end()) on_started_locked(*it, Clock::time_point(std::chrono::nanoseconds(answer.started_ns)));
    return;
  }
  PendingCall* call = take_inflight_locked(answer.seq);
  if (call == nullptr) return;  // an answer nobody waits for: ignore it
  if (call == running_) running_ = nullptr;
  if (answer.kind == Kind::dropped) {
    if (call->cancelling) {
      done.push_back({call, std::make_exception_ptr(TaskCancelled("the Python call was cancelled before it started"))});
    } else if (call->start_overdue(Clock::now())) {
      done.push_back({call, queue_timeout_error(*call)});
    } else {
      call->withdrawing = false;
      owner_->on_withdrawn(*this, call, done);
    }
    return;
  }
  // A call that returned keeps its result even if a cancel came late; one
  // that raised after a cancel was (most likely) interrupted by it.
  if (call->cancelling && std::holds_alternative<std::exception_ptr>(answer.outcome)) {
    answer.outcome = std::make_exception_ptr(TaskCancelled("the Python call was cancelled while it ran"));
  }
  done.push_back({call, std::move(answer.outcome)});
}

// The worker writes its frames to the journal, which nobody polls, and
// rings the bell when this side should read it (worker_protocol.hpp): a
// batch of short calls costs one wake-up here, not one per call.
void WorkerProcess::read_answers() {
  bell_->async_wait(asio::posix::stream_descriptor::wait_read,
                    [self = shared_from_this()](const boost::system::error_code& error) {
                      if (error || !self->owner_) return;
                      if (!self->drain_bell()) return;  // it exited: on_exited takes the rest
                      self->read_answers();
                      self->journal_turn();
                    });
}

bool WorkerProcess::drain_bell() {
  char rings[64];
  for (;;) {
    const ssize_t n = ::read(bell_read_, rings, sizeof rings);
    if (n == ssize_t(sizeof rings)) continue;
    if (n < 0 && errno == EINTR) continue;
    return n != 0;
  }
}

// One turn of the journal; with data left, the next turn is posted. The
// journal is never polled (every write to a polled pipe would wake this
// thread): a frame half written is finished by the time the worker rings
// again, since it rings after each 16 KiB of a large answer.
void WorkerProcess::journal_turn() {
  if (pump_answers(false) == Pump::more && !journal_continues_) {
    journal_continues_ = true;
    asio::post(io_, [self = shared_from_this()] {
      self->journal_continues_ = false;
      if (self->owner_) self->journal_turn();  // not once it has exited
    });
  }
  // More answers are coming: catch them without sleeping.
  if (expecting_answers_) request_answer_spin();
}

void WorkerProcess::catch_up() {
  if (!owner_ || !started_) return;
  while (pump_answers(false) == Pump::more) {
  }
}

// Reads what the journal holds, up to kAnswerBytesPerTurn unless `final`,
// and applies its frames.
WorkerProcess::Pump WorkerProcess::pump_answers(bool final) {
  bool open = true;
  bool more = false;
  bool oversized = false;  // or otherwise broken: the worker is replaced
  std::size_t taken = 0;
  for (;;) {
    if (!final && taken >= kAnswerBytesPerTurn) {
      more = true;  // it may hold more: the next turn sees
      break;
    }
    // Room for the rest of a large frame at once, else a chunk.
    std::size_t want = kReadChunk;
    if (in_used_ >= 4) {
      const std::uint32_t length = read_frame_length(in_.data());
      if (length + 4 > in_used_) want = std::max<std::size_t>(want, length + 4 - in_used_);
    }
    if (in_.size() < in_used_ + want) in_.resize(in_used_ + want);
    const std::ptrdiff_t n = journal_.read(in_.data() + in_used_, want);
    if (n > 0) {
      in_used_ += std::size_t(n);
      taken += std::size_t(n);
      if (std::size_t(n) < want) break;  // drained
      continue;
    }
    if (n == WorkerJournal::kEnded) open = false;
    if (n == WorkerJournal::kBroken) oversized = true;
    break;
  }
  // Split off complete frames.
  std::vector<std::string> payloads;
  const std::size_t offset =
      oversized ? 0 : split_frames(std::string_view(in_.data(), in_used_), launch_->max_frame_bytes, payloads, oversized);
  if (offset > 0) {
    std::memmove(in_.data(), in_.data() + offset, in_used_ - offset);
    in_used_ -= offset;
  }
  if (in_.size() > (4u << 20) && in_used_ < kReadChunk) {
    in_.resize(kReadChunk);
    in_.shrink_to_fit();
  }
  std::vector<WorkerAnswer> answers;
  answers.reserve(payloads.size());
  for (const auto& payload : payloads) answers.push_back(parse_answer(payload));
  auto owner = owner_;
  if (!owner) return Pump::closed;
  Completions done;
  done.reserve(answers.size());
  {
    std::lock_guard guard(owner->mutex);
    for (WorkerAnswer& answer : answers) take_answer_locked(answer, done);
    if (!answers.empty()) last_look_ = Clock::now();
    if (!done.empty()) {
      if (inflight.empty()) idle_since = Clock::now();
      owner->on_answered(*this, done);
      end_input_if_done_locked();
    }
    expecting_answers_ = !inflight.empty();
    if (oversized) kill_locked(WorkerExit::Cause::none);  // the protocol is broken: replace it
  }
  run_completions(done);
  if (!open || oversized) return Pump::closed;
  return more ? Pump::more : Pump::drained;
}

void WorkerProcess::read_log(int which) {
  logs_[which]->async_wait(asio::posix::stream_descriptor::wait_read,
                           [self = shared_from_this(), which](const boost::system::error_code& error) {
                             if (error || !self->logs_[which] || !self->owner_) return;
                             self->log_turn(which);
                           });
}

// One turn of a log pipe; the next is posted while it holds data, as for
// the answers. A slow sink thus shares the I/O thread instead of holding it
// until a noisy worker stops printing.
void WorkerProcess::log_turn(int which) {
  switch (pump_log(which)) {
    case Pump::drained:
      read_log(which);
      break;
    case Pump::more:
      asio::post(io_, [self = shared_from_this(), which] {
        if (self->owner_) self->log_turn(which);  // not once it has exited
      });
      break;
    case Pump::closed:
      break;
  }
}

// Gives the sink at most kLogLinesPerTurn lines, reading at most
// kLogBytesPerTurn bytes; what a read brought past the lines waits in
// log_held_ for the next turn.
WorkerProcess::Pump WorkerProcess::pump_log(int which) {
  std::string& held = log_held_[which];
  std::size_t& at = log_held_at_[which];
  std::size_t lines_left = kLogLinesPerTurn;
  std::size_t bytes_left = kLogBytesPerTurn;
  for (;;) {
    if (at < held.size()) {
      const std::string_view rest(held.data() + at, held.size() - at);
      std::size_t end = 0;
      while (lines_left > 0) {
        const std::size_t newline = rest.find('\n', end);
        if (newline == std::string_view::npos) {
          end = rest.size();  // a partial line: the splitter keeps it
          break;
        }
        end = newline + 1;
        --lines_left;
      }
      log_bytes(which, rest.data(), end, false);
      at += end;
      if (at == held.size()) {
        held.clear();
        at = 0;
      }
      if (lines_left == 0 || bytes_left == 0) return Pump::more;
    }
    held.resize(std::min(kLogReadChunk, bytes_left));
    const ssize_t n = ::read(which == 0 ? out_read_ : err_read_, held.data(), held.size());
    held.resize(n > 0 ? std::size_t(n) : 0);
    if (n > 0) {
      bytes_left -= std::size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Pump::drained;
    log_bytes(which, nullptr, 0, true);  // end of file
    return Pump::closed;
  }
}

void WorkerProcess::log_bytes(int which, const char* data, std::size_t n, bool final) {
  auto emit = [&](std::string_view line) {
    if (which == 1) {
      last_stderr_.emplace_back(line);
      if (last_stderr_.size() > kLastStderrLines) last_stderr_.pop_front();
    }
    if (auto owner = owner_) {
      try {
        owner->on_log(WorkerLogLine{label_, pid_, which == 1, line});
      } catch (...) {
        // A sink's failure must not lose the worker.
      }
    }
  };
  log_lines_[which].feed(std::string_view(data, n), emit);
  if (final) log_lines_[which].finish(emit);
}

void WorkerProcess::on_exited() {
  if (exited_ || !owner_) return;
  // Its guard has killed what it left behind; its status is the worker's.
  const int status = kill_tree_and_reap(guard_);
  // It is gone, so what it wrote is all in the pipes: take it now.
  pump_answers(true);
  char buffer[8192];
  for (int which : {0, 1}) {
    // First what a turn read and left for the next.
    const std::string held = std::exchange(log_held_[which], {});
    log_bytes(which, held.data() + log_held_at_[which], held.size() - log_held_at_[which], false);
    log_held_at_[which] = 0;
    for (;;) {
      const ssize_t n = ::read(which == 0 ? out_read_ : err_read_, buffer, sizeof buffer);
      if (n > 0) {
        log_bytes(which, buffer, std::size_t(n), false);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    log_bytes(which, nullptr, 0, true);
  }
  WorkerExit exit;
  exit.pid = pid_;
  if (WIFEXITED(status)) exit.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
  exit.last_stderr.assign(last_stderr_.begin(), last_stderr_.end());
  auto owner = std::move(owner_);  // breaks the owner <-> worker cycle
  Completions done;
  {
    std::lock_guard guard(owner->mutex);
    exited_ = true;
    exit.cause = cause_;
    exit.calls_started = calls_started;
    Unfinished unfinished;
    unfinished.running = running_;
    running_ = nullptr;
    for (PendingCall* call : std::exchange(inflight, {})) {
      if (call != unfinished.running) unfinished.not_started.push_back(call);
    }
    // A kill for one call's timeout or cancel, when another call had
    // started by the time it landed: that one just lost its worker.
    const bool kill_for_a_call = cause_ == WorkerExit::Cause::timeout || cause_ == WorkerExit::Cause::cancel;
    if (kill_for_a_call && (unfinished.running == nullptr || unfinished.running->seq != kill_seq_)) {
      exit.cause = WorkerExit::Cause::none;
    }
    owner->on_exit(*this, exit, std::move(unfinished), done);
  }
  run_completions(done);
  watch_timer_.cancel();
  boost::system::error_code ignored;
  exit_watch_.stop();
  for (auto* descriptor : {&bell_, &logs_[0], &logs_[1]}) {
    if (*descriptor) (*descriptor)->close(ignored);
  }
  if (requests_) requests_->cancel(ignored);
}

std::string crash_message(const std::string& label, const WorkerExit& exit) {
  if (!exit.launch_error.empty()) return fmt::format("the Python worker {} could not start: {}", label, exit.launch_error);
  std::string message = fmt::format("the Python worker {} (pid {}) {} while it ran the call", label, exit.pid,
                                    describe_status(exit));
  if (!exit.last_stderr.empty()) {
    message += "; its last lines on stderr:";
    for (const auto& line : exit.last_stderr) message += "\n  " + line;
  }
  return message;
}

}  // namespace fray::detail
