// Starting child processes: a driver holding a lot of memory starts runs and
// Python workers that all work; every way a launch can fail gives a typed
// error whose message names the cause (these messages are part of the
// contract: a new launcher must keep them); and a failed launch leaves no
// zombie and no descriptor behind. Real processes in real envs; offline.
#include "test_support.hpp"
#include "venv_test_support.hpp"

#include <fray/detail/child_launch.hpp>
#include <fray/python.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

using namespace fray_test;
using namespace std::chrono_literals;
using fray::IsolatedVirtualEnv;
using fray::RunOptions;
using fray::WorkerPool;
using fray::WorkerPoolOptions;

namespace {

// The plain env (the system interpreter, no packages) these tests run in.
const IsolatedVirtualEnv& plain_env() {
  static IsolatedVirtualEnv env(venv_options(shared_cache()));
  return env;
}

// The PATH a run of `env` gets.
std::string child_path(const IsolatedVirtualEnv& env) {
  for (const auto& entry : env.child_environment()) {
    if (entry.starts_with("PATH=")) return entry.substr(5);
  }
  return "";
}

// A file with `text` and `mode`.
fs::path make_file(const fs::path& file, const std::string& text, fs::perms mode) {
  write_text(file, text);
  fs::permissions(file, mode);
  return file;
}

constexpr auto kExecutable = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec;
constexpr auto kReadWrite = fs::perms::owner_read | fs::perms::owner_write;

// Bytes that are neither an ELF header nor a "#!" line: execve says ENOEXEC.
constexpr char kGarbageBytes[] = "\x01\x02garbage, no shebang\x7f\x00\xff\n";
const std::string kGarbage(kGarbageBytes, sizeof kGarbageBytes - 1);

// Anonymous memory touched page by page: resident in this process.
class ResidentMemory {
 public:
  explicit ResidentMemory(std::size_t bytes) : bytes_(bytes) {
    base_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED) throw std::runtime_error("cannot map the driver's memory");
    auto* bytes_at = static_cast<volatile char*>(base_);
    for (std::size_t at = 0; at < bytes; at += 4096) bytes_at[at] = char(at >> 12);
  }
  ResidentMemory(const ResidentMemory&) = delete;
  ~ResidentMemory() { ::munmap(base_, bytes_); }

 private:
  void* base_;
  std::size_t bytes_;
};

// This process's resident set, from /proc/self/status.
std::size_t resident_bytes() {
  std::istringstream status(read_text("/proc/self/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// An env of its own (in a cache of its own) whose bin/python the test may
// break without harming the shared envs.
struct PrivateEnv {
  TempDir cache{"fray-launch-cache-"};
  IsolatedVirtualEnv env{venv_options(cache.path())};
  // bin/python becomes a regular file with `text` and `mode`.
  void replace_python(const std::string& text, fs::perms mode) {
    fs::remove(env.python());
    make_file(env.python(), text, mode);
  }
};

WorkerPoolOptions quiet_pool(std::string name) {
  return WorkerPoolOptions{}.with_name(std::move(name)).with_max_workers(1).with_log_sink([](const fray::WorkerLogLine&) {});
}

// This process's child guards that wait for a child (alive, none below them).
std::vector<int> idle_child_guards() {
  std::vector<int> idle;
  for (const auto& name : entries("/proc")) {
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    const int pid = std::atoi(name.c_str());
    if (parent_of(pid) != ::getpid() || process_state(pid) == 'Z') continue;
    if (trimmed(read_text(fmt::format("/proc/{}/comm", pid))) != "fray-child-guar") continue;
    if (trimmed(read_text(fmt::format("/proc/{}/task/{}/children", pid, pid))).empty()) idle.push_back(pid);
  }
  return idle;
}

// Holds fray's process thread in a stream callback (which runs there)
// until released: launches that need that thread wait meanwhile. Bounded,
// so a broken test cannot wedge the thread for good.
class ProcessThreadHold {
 public:
  explicit ProcessThreadHold(const IsolatedVirtualEnv& env) {
    holder_ = env.run({"sh", "-c", "echo hold; exec sleep 30"},
                      RunOptions{}.with_kill_grace(100ms).stream_stdout([this](std::string_view) {
                        std::unique_lock lock(mutex_);
                        holding_ = true;
                        changed_.notify_all();
                        changed_.wait_for(lock, 60s, [this] { return released_; });
                      }));
    std::unique_lock lock(mutex_);
    REQUIRE(changed_.wait_for(lock, 60s, [this] { return holding_; }));
  }
  ProcessThreadHold(const ProcessThreadHold&) = delete;
  ~ProcessThreadHold() {
    release();
    (void)cancelled();
  }
  void release() {
    {
      std::lock_guard guard(mutex_);
      released_ = true;
    }
    changed_.notify_all();
  }
  // Cancels the holding run; whether it ended cancelled, as it should.
  bool cancelled() {
    if (!holder_.valid()) return true;
    holder_.cancel();
    try {
      holder_.get();
    } catch (const fray::TaskCancelled&) {
      holder_ = {};
      return true;
    } catch (const std::exception&) {
    }
    holder_ = {};
    return false;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool holding_ = false, released_ = false;
  fray::Future<fray::ProcessResult> holder_;
};

// Runs of `sleep 30`, cancelled when the test ends, however it ends.
struct Sleepers {
  std::vector<fray::Future<fray::ProcessResult>> runs;
  Sleepers() = default;
  Sleepers(const Sleepers&) = delete;
  ~Sleepers() {
    for (auto& run : runs) {
      run.cancel();
      try {
        run.get();
      } catch (const std::exception&) {
      }
    }
  }
  // Until no guard of this process waits for a child.
  void occupy_every_idle_guard(const IsolatedVirtualEnv& env) {
    REQUIRE_MESSAGE(fs::exists(fmt::format("/proc/{}/task/{}/children", ::getpid(), ::getpid())),
                    "this test tells idle guards by /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN)");
    while (!eventually([] { return idle_child_guards().empty(); }, 200ms)) {
      REQUIRE(runs.size() < 64);
      runs.push_back(env.run({"sleep", "30"}, RunOptions{}.with_kill_grace(100ms)));
    }
  }
};

}  // namespace

// --- a big driver ------------------------------------------------------------

TEST_CASE("a driver holding 2 GiB starts 25 runs and 25 Python workers at once, and every one works") {
  Watchdog watchdog("50 children of a 2 GiB driver", 300s);
  const IsolatedVirtualEnv& env = plain_env();
  constexpr std::size_t kHeld = std::size_t(2) << 30;
  const ResidentMemory held(kHeld);
  INFO("resident: " << resident_bytes());
  REQUIRE(resident_bytes() >= kHeld);

  std::vector<fray::Future<fray::ProcessResult>> runs;
  std::vector<std::unique_ptr<WorkerPool>> pools;
  std::vector<fray::Future<int>> calls;
  for (int i = 0; i < 50; ++i) {
    if (i % 2 == 0) {
      runs.push_back(env.run({"sh", "-c", "echo \"run $1\"", "sh", std::to_string(i)}));
    } else {
      pools.push_back(std::make_unique<WorkerPool>(env, quiet_pool(fmt::format("big{}", i))));
      calls.push_back(pools.back()->call<int>("operator:add", 1000, i));
    }
  }
  for (std::size_t k = 0; k < runs.size(); ++k) {
    const fray::ProcessResult result = runs[k].get();
    INFO("run " << 2 * k << ": stderr " << result.err);
    CHECK(result.exit_code == 0);
    CHECK(result.out == fmt::format("run {}\n", 2 * k));
  }
  for (std::size_t k = 0; k < calls.size(); ++k) {
    CAPTURE(k);
    CHECK(calls[k].get() == int(1000 + 2 * k + 1));
  }
  pools.clear();
  CHECK(zombie_children() == 0);
}

// --- why a launch fails --------------------------------------------------------

TEST_CASE("a command that is missing fails with CommandNotFound naming it and the PATH searched, one not executable with CommandNotExecutable") {
  const IsolatedVirtualEnv& env = plain_env();
  TempDir dir("fray-launch-");
  const std::string path = child_path(env);
  REQUIRE_FALSE(path.empty());
  const auto not_found = [&](const std::string& command) {
    return fmt::format("{}: command not found (not an executable file on the env's PATH {})", command, path);
  };

  // Not on PATH.
  CHECK(std::string(error_of<fray::CommandNotFound>(env.run({"fray-no-such-command"})).what()) ==
        not_found("fray-no-such-command"));
  // A path to nothing.
  const std::string missing = (dir / "missing").string();
  CHECK(std::string(error_of<fray::CommandNotFound>(env.run({missing})).what()) == not_found(missing));
  // A file without execute permission (even for root), and a directory: a
  // CommandNotExecutable (a CommandNotFound too), the shell's 126 to its 127.
  const std::string plain = make_file(dir / "not-executable", "#!/bin/sh\necho ran\n", kReadWrite).string();
  CHECK(std::string(error_of<fray::CommandNotExecutable>(env.run({plain})).what()) ==
        plain + ": cannot run it: permission denied (not executable)");
  CHECK_THROWS_AS(env.run({plain}).get(), fray::CommandNotFound);
  fs::create_directory(dir / "a-directory");
  const std::string directory = (dir / "a-directory").string();
  CHECK(std::string(error_of<fray::CommandNotExecutable>(env.run({directory})).what()) ==
        directory + ": cannot run it: it is a directory");
  // The same file, once executable, runs.
  fs::permissions(plain, kExecutable);
  CHECK(trimmed(env.run({plain}).get().out) == "ran");
}

TEST_CASE("a missing working directory fails the run with InvalidOptions naming it, and a pool with one is refused") {
  const IsolatedVirtualEnv& env = plain_env();
  TempDir dir("fray-launch-");
  const fs::path missing = dir / "missing";
  CHECK(std::string(error_of<fray::InvalidOptions>(env.run({"pwd"}, RunOptions{}.with_cwd(missing))).what()) ==
        fmt::format("run: the working directory {} does not exist", missing.string()));
  // A file is no directory either.
  const fs::path file = make_file(dir / "file", "", kReadWrite);
  CHECK(std::string(error_of<fray::InvalidOptions>(env.run({"pwd"}, RunOptions{}.with_cwd(file))).what()) ==
        fmt::format("run: the working directory {} does not exist", file.string()));
  try {
    WorkerPool pool(env, WorkerPoolOptions{}.with_cwd(missing));
    FAIL("a pool with a missing working directory was made");
  } catch (const fray::InvalidOptions& e) {
    CHECK(std::string(e.what()) == fmt::format("the workers' working directory {} does not exist", missing.string()));
  }
}

TEST_CASE("a working directory removed between run() and the launch fails the run with ProcessLaunchFailed naming it") {
  Watchdog watchdog("a launch behind a blocked process thread", 120s);
  const IsolatedVirtualEnv& env = plain_env();
  TempDir dir("fray-launch-");
  const fs::path cwd = dir / "workdir";
  fs::create_directory(cwd);
  // A run is handed to an idle guard at once when one waits; otherwise it
  // starts on fray's process thread, after run() has checked the directory
  // (fray/detail/process_runner.hpp). So first every idle guard gets a
  // child, then a stream callback, which runs on that thread, holds it
  // there: the next launch waits there while the directory goes.
  Sleepers sleepers;
  sleepers.occupy_every_idle_guard(env);
  ProcessThreadHold hold(env);
  auto launch = env.run({"/bin/sh", "-c", "pwd"}, RunOptions{}.with_cwd(cwd));
  fs::remove(cwd);
  hold.release();
  try {
    const auto result = launch.get();
    FAIL("the process started in a directory that was gone (out: " << result.out
         << "); if launches without an idle guard no longer wait for the process thread, this test needs another way in");
  } catch (const fray::ProcessLaunchFailed& e) {
    CHECK(std::string(e.what()) == fmt::format("cannot start /bin/sh: its working directory {} does not exist", cwd.string()));
  }
  CHECK(hold.cancelled());
}

TEST_CASE("a run starts at once on an idle guard while fray's process thread is busy, and completes once it is free") {
  Watchdog watchdog("a run handed over behind a blocked process thread", 120s);
  const IsolatedVirtualEnv& env = plain_env();
  TempDir dir("fray-handed-");
  const fs::path started = dir / "started";
  // Two guards go idle: the holder takes one, the run the other.
  auto first = env.run({"true"});
  auto second = env.run({"true"});
  REQUIRE(first.get().ok());
  REQUIRE(second.get().ok());
  ProcessThreadHold hold(env);
  auto run = env.run({"sh", "-c", "echo up > \"$1\"; echo done", "sh", started.string()});
  // Before the process thread is free, the child has run.
  CHECK(eventually([&] { return fs::exists(started); }, 30s));
  CHECK_FALSE(run.ready());
  hold.release();
  const fray::ProcessResult result = run.get();
  CHECK(result.exit_code == 0);
  CHECK(trimmed(result.out) == "done");
  CHECK(trimmed(read_text(started)) == "up");
  CHECK(hold.cancelled());
}

TEST_CASE("an executable file the kernel cannot run fails with ProcessLaunchFailed saying why: no program, or a missing interpreter") {
  const IsolatedVirtualEnv& env = plain_env();
  TempDir dir("fray-launch-");
  // Execute permission, but neither an ELF file nor a script: ENOEXEC (not
  // run by a shell instead, as execvp would).
  const std::string garbage = make_file(dir / "garbage", kGarbage, kExecutable).string();
  CHECK(std::string(error_of<fray::ProcessLaunchFailed>(env.run({garbage})).what()) ==
        fmt::format("cannot start {}: Exec format error", garbage));
  // A script whose interpreter does not exist: ENOENT from exec.
  const std::string orphan_script = make_file(dir / "script", "#!/nonexistent/interpreter\necho ran\n", kExecutable).string();
  CHECK(std::string(error_of<fray::ProcessLaunchFailed>(env.run({orphan_script})).what()) ==
        fmt::format("cannot start {}: No such file or directory", orphan_script));
  // Found on PATH, the same (the message names the file found).
  auto on_path = RunOptions{}.with_env("PATH", dir.path().string());
  CHECK(std::string(error_of<fray::ProcessLaunchFailed>(env.run({"garbage"}, on_path)).what()) ==
        fmt::format("cannot start {}: Exec format error", garbage));
  // The env is unharmed.
  CHECK(env.run({"true"}).get().ok());
}

TEST_CASE("a worker whose interpreter cannot be executed fails its call with WorkerCrashed saying why") {
  Watchdog watchdog("workers that cannot start", 120s);
  PrivateEnv broken;
  const std::string python = broken.env.python().string();
  SUBCASE("no program") {
    broken.replace_python(kGarbage, kExecutable);
    WorkerPool pool(broken.env, quiet_pool("noexec"));
    const auto crashed = error_of<fray::WorkerCrashed>(pool.call<int>("operator:add", 1, 2));
    CHECK(std::string(crashed.what()) == fmt::format("the Python worker noexec#1 could not start: cannot start {}: Exec format error", python));
  }
  SUBCASE("missing") {
    fs::remove(broken.env.python());
    WorkerPool pool(broken.env, quiet_pool("missing"));
    const auto crashed = error_of<fray::WorkerCrashed>(pool.call<int>("operator:add", 1, 2));
    CHECK(std::string(crashed.what()) ==
          fmt::format("the Python worker missing#1 could not start: cannot start {}: No such file or directory", python));
  }
  SUBCASE("not executable") {
    broken.replace_python("#!/bin/sh\n", kReadWrite);
    WorkerPool pool(broken.env, quiet_pool("noperm"));
    const auto crashed = error_of<fray::WorkerCrashed>(pool.call<int>("operator:add", 1, 2));
    CHECK(std::string(crashed.what()) ==
          fmt::format("the Python worker noperm#1 could not start: cannot start {}: Permission denied", python));
  }
}

// --- what a failed launch leaves ---------------------------------------------------

TEST_CASE("failed launches of runs and workers leave no zombie and no new file descriptor") {
  Watchdog watchdog("failed launches", 300s);
  const IsolatedVirtualEnv& env = plain_env();
  TempDir dir("fray-launch-");
  const std::string garbage = make_file(dir / "garbage", kGarbage, kExecutable).string();
  const std::string orphan_script = make_file(dir / "script", "#!/nonexistent/interpreter\n", kExecutable).string();
  PrivateEnv broken;
  broken.replace_python(kGarbage, kExecutable);
  const auto failed_run = [&](int i) {
    switch (i % 4) {
      case 0: return error_of<fray::ProcessLaunchFailed>(env.run({garbage})).what() != nullptr;
      case 1: return error_of<fray::ProcessLaunchFailed>(env.run({orphan_script}, RunOptions{}.with_input("in"))).what() != nullptr;
      case 2: return error_of<fray::CommandNotFound>(env.run({"fray-no-such-command"})).what() != nullptr;
      default:
        return error_of<fray::InvalidOptions>(env.run({"true"}, RunOptions{}.with_cwd(dir / "missing"))).what() != nullptr;
    }
  };
  const auto failed_pool = [&] {
    WorkerPool pool(broken.env, quiet_pool("broken"));
    for (int call = 0; call < 3; ++call) (void)error_of<fray::WorkerCrashed>(pool.call<int>("operator:add", 1, 2));
  };
  // The process and worker threads' own descriptors exist after a first use.
  CHECK(env.run({"true"}).get().ok());
  for (int i = 0; i < 4; ++i) failed_run(i);
  failed_pool();
  const int fds_before = open_fds();
  CHECK(zombie_children() == 0);
  for (int i = 0; i < 200; ++i) failed_run(i);
  for (int i = 0; i < 10; ++i) failed_pool();
  CHECK(zombie_children() == 0);
  // A pool's descriptors are closed on its I/O thread once it is gone, so
  // the count is polled (a bound, not a timing); and the warm-up's may still
  // be open when the count was taken, so it may drop below. A leak per
  // launch would leave hundreds more.
  const bool no_new_fd = eventually([&] { return open_fds() <= fds_before; });
  INFO("descriptors before: " << fds_before << ", after: " << open_fds());
  CHECK(no_new_fd);
  // And the launcher still works.
  CHECK(trimmed(env.run({"sh", "-c", "echo fine"}).get().out) == "fine");
}

// --- what the child is given ---------------------------------------------------

namespace {

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buffer, std::size_t(n));
  }
  return text;
}

// Restores the current directory when the test ends, passed or failed.
struct WorkingDirectory {
  fs::path saved = fs::current_path();
  ~WorkingDirectory() { fs::current_path(saved); }
};

}  // namespace

TEST_CASE("a child gets the stdout and stderr it is given even when each is the other's number in the driver") {
  Watchdog watchdog("a child with swapped stdout and stderr", 60s);
  int out[2], err[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  fray::detail::ChildLaunch child;
  child.executable = "/bin/sh";
  child.args = {"-c", "echo out; echo err >&2"};
  child.env = {"PATH=/usr/bin:/bin"};
  child.stdin_fd = devnull;
  child.stdout_fd = STDERR_FILENO;  // the driver's 2 is the child's stdout, its 1 the child's stderr
  child.stderr_fd = STDOUT_FILENO;
  // Nothing may print while 1 and 2 are the pipes: checks come after.
  const int saved_out = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 10);
  const int saved_err = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 10);
  ::dup2(out[1], STDERR_FILENO);
  ::dup2(err[1], STDOUT_FILENO);
  fray::detail::LaunchedChild launched;
  std::string error;
  try {
    launched = fray::detail::launch_child(child);
  } catch (const std::exception& e) {
    error = e.what();
  }
  ::dup2(saved_out, STDOUT_FILENO);
  ::dup2(saved_err, STDERR_FILENO);
  for (int fd : {saved_out, saved_err, out[1], err[1], devnull}) ::close(fd);
  REQUIRE_MESSAGE(error.empty(), error);
  int status = 0;
  REQUIRE(::waitpid(launched.guard, &status, 0) == launched.guard);
  CHECK(WIFEXITED(status));
  const std::string out_text = read_all(out[0]), err_text = read_all(err[0]);
  ::close(out[0]);
  ::close(err[0]);
  CHECK(out_text == "out\n");
  CHECK(err_text == "err\n");
}

TEST_CASE("a run starts in the driver's current directory at the time of the run, after the driver changed it") {
  Watchdog watchdog("runs after chdir", 60s);
  const WorkingDirectory restore;
  TempDir first("fray-cwd-a-"), second("fray-cwd-b-");
  fs::current_path(first.path());
  CHECK(trimmed(plain_env().run({"pwd", "-P"}).get().out) == fs::canonical(first.path()).string());
  // The launcher may have started the next run's guard already, in `first`.
  fs::current_path(second.path());
  CHECK(trimmed(plain_env().run({"pwd", "-P"}).get().out) == fs::canonical(second.path()).string());
}

TEST_CASE("runs right after cancelled and timed-out runs complete normally: a guard told to stop is never given the next child") {
  Watchdog watchdog("runs after stopped runs", 120s);
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    auto cancelled = plain_env().run({"sleep", "30"}, RunOptions{}.with_kill_grace(100ms));
    auto timed_out = plain_env().run({"sleep", "30"}, RunOptions{}.with_timeout(20ms).with_kill_grace(100ms));
    cancelled.cancel();
    CHECK_THROWS_AS(cancelled.get(), fray::TaskCancelled);
    CHECK_THROWS_AS(timed_out.get(), fray::ProcessTimeout);
    for (int i = 0; i < 3; ++i) {
      const fray::ProcessResult next = plain_env().run({"sh", "-c", "sleep 0.05; echo done"}).get();
      CHECK(next.exit_code == 0);
      CHECK(trimmed(next.out) == "done");
    }
  }
}

TEST_CASE("a run with a relative working directory starts there, relative to the driver's directory, every time") {
  Watchdog watchdog("runs with a relative cwd", 60s);
  const WorkingDirectory restore;
  TempDir dir("fray-cwd-rel-");
  fs::create_directory(dir / "sub");
  fs::current_path(dir.path());
  const std::string expected = fs::canonical(dir / "sub").string();
  // The second and third runs may be handed to a guard that ran the first.
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    const fray::ProcessResult result = plain_env().run({"pwd", "-P"}, RunOptions{}.with_cwd("sub")).get();
    CHECK(result.exit_code == 0);
    CHECK(trimmed(result.out) == expected);
  }
}

TEST_CASE("a run started after the driver changed its umask and its open-file limit gets the new ones") {
  Watchdog watchdog("runs after umask and setrlimit", 60s);
  const auto settings = [] { return trimmed(plain_env().run({"sh", "-c", "umask; ulimit -n"}).get().out); };
  (void)settings();  // a guard is now idle, started with the old settings
  rlimit files{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &files) == 0);
  const rlimit lower{std::min<rlim_t>(files.rlim_cur, 512) - 1, files.rlim_max};
  const mode_t old_mask = ::umask(027);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lower) == 0);
  const std::string after = settings();
  ::umask(old_mask);
  ::setrlimit(RLIMIT_NOFILE, &files);
  CHECK(after == fmt::format("0027\n{}", lower.rlim_cur));
}

TEST_CASE("runs from several threads at once, handed to idle guards that someone killed, each run once and work") {
  Watchdog watchdog("runs on killed idle guards", 120s);
  TempDir dir("fray-killed-idle-");
  const fs::path log = dir / "runs.log";
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    // Guards go idle as these end; then every idle one is killed, so the
    // next runs are handed to dead guards first.
    std::vector<fray::Future<fray::ProcessResult>> warm;
    for (int i = 0; i < 4; ++i) warm.push_back(plain_env().run({"true"}));
    for (auto& run : warm) REQUIRE(run.get().ok());
    const std::vector<int> idle = idle_child_guards();
    REQUIRE(!idle.empty());
    for (int pid : idle) ::kill(pid, SIGKILL);
    REQUIRE(eventually([&] { return std::all_of(idle.begin(), idle.end(), [](int pid) { return process_gone(pid); }); }));

    std::atomic<int> failed{0};
    std::vector<std::thread> drivers;
    for (int t = 0; t < 4; ++t) {
      drivers.emplace_back([&, t] {
        for (int i = 0; i < 5; ++i) {
          try {
            const std::string line = fmt::format("{}.{}.{}", round, t, i);
            const auto result = plain_env().run({"sh", "-c", "echo \"$1\" >> \"$2\"", "sh", line, log.string()}).get();
            if (!result.ok()) ++failed;
          } catch (const std::exception&) {
            ++failed;
          }
        }
      });
    }
    for (auto& driver : drivers) driver.join();
    CHECK(failed.load() == 0);
  }
  // More runs at once than fray keeps idle guards: every killed guard left
  // on the shelf is taken, found dead and reaped.
  std::vector<fray::Future<fray::ProcessResult>> drain;
  for (int i = 0; i < 12; ++i) drain.push_back(plain_env().run({"sleep", "0.5"}));
  for (auto& run : drain) CHECK(run.get().ok());
  CHECK(zombie_children() == 0);
  // Every run ran exactly once.
  std::istringstream lines(read_text(log));
  std::map<std::string, int> seen;
  for (std::string line; std::getline(lines, line);) ++seen[line];
  CHECK(seen.size() == 60);
  for (const auto& [line, count] : seen) {
    CAPTURE(line);
    CHECK(count == 1);
  }
}

TEST_CASE("a fork of the driver holding fray's descriptors does not hang runs whose guards must retire") {
  Watchdog watchdog("runs whose guards retire while a fork of the driver lives", 60s);
  // More runs at once than fray keeps idle guards for: when they end, the
  // guards past the first few are retired.
  std::vector<fray::Future<fray::ProcessResult>> runs;
  TempDir dir("fray-fork-");
  for (int i = 0; i < 12; ++i) {
    runs.push_back(plain_env().run({"sh", "-c", "touch \"$1\"; sleep 1", "sh", (dir / std::to_string(i)).string()}));
  }
  REQUIRE(eventually([&] { return entries(dir.path()).size() == 12; }, 30s));
  // A fork that never execs (a prefork server, multiprocessing's fork): it
  // holds a copy of every descriptor, the guards' sockets included.
  const pid_t fork_child = ::fork();
  REQUIRE(fork_child >= 0);
  if (fork_child == 0) {
    ::sleep(120);
    ::_exit(0);
  }
  for (auto& run : runs) CHECK(run.get().ok());
  CHECK(plain_env().run({"true"}).get().ok());
  // And a change of umask, which retires every idle guard, too.
  const mode_t old_mask = ::umask(027);
  const bool ok = plain_env().run({"true"}).get().ok();
  ::umask(old_mask);
  CHECK(ok);
  ::kill(fork_child, SIGKILL);
  ::waitpid(fork_child, nullptr, 0);
}

TEST_CASE("an argument holding a NUL byte, or words over 64 MiB, fail the run with ProcessLaunchFailed saying so, and the next run works") {
  Watchdog watchdog("runs with unsendable words", 60s);
  const auto nul = error_of<fray::ProcessLaunchFailed>(plain_env().run({"echo", std::string("a\0b", 3)}));
  CHECK(std::string(nul.what()).find("argument 1 holds a NUL byte") != std::string::npos);
  const auto big = error_of<fray::ProcessLaunchFailed>(plain_env().run({"echo", std::string(65u << 20, 'x')}));
  CHECK(std::string(big.what()).find("Argument list too long") != std::string::npos);
  CHECK(trimmed(plain_env().run({"sh", "-c", "echo fine"}).get().out) == "fine");
}
