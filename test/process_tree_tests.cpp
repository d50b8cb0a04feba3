// What dies when: every process a fray child (a run's process, a Python
// worker) starts dies with it when the driver dies, and when fray stops the
// child (timeout, cancel, the env or pool closed, a call timeout, or the
// child's own normal exit), wherever it went: in the child's process
// group, in a session of its own (setsid), or double-forked (its parent
// gone, so it was reparented away from the child). Real processes, real
// envs; offline (a plain env of the system interpreter, no packages).
//
// Each test starts the same three grandchildren, which ignore SIGTERM and
// write "KIND PID" to a file (kinds: group, session, double; the child
// writes "child PID"). Every process of one test carries the test's own
// token as its `sleep` argument, so the test can tell its processes from a
// reused pid and kill every survivor when it ends, passed or failed.
#include "test_support.hpp"
#include "venv_test_support.hpp"

#include <fray/detail/child_guard.hpp>
#include <fray/python.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <sstream>

using namespace fray_test;
using namespace std::chrono_literals;
using fray::IsolatedVirtualEnv;
using fray::RunOptions;
using fray::WorkerPool;
using fray::WorkerPoolOptions;

extern char** environ;

namespace {

// sh tree.sh PIDS_FILE TOKEN [exit]: writes "child $$", starts the three
// grandchildren, waits until each has written its pid, then sleeps (or,
// with `exit`, exits 0, leaving them behind as daemons). Everything ignores
// SIGTERM (the disposition is inherited across fork and exec) and has its
// stdio on /dev/null, so no pipe of fray's is held open by a grandchild.
constexpr const char* kTreeScript = R"SH(pids=$1 token=$2
echo "child $$" >> "$pids"
trap '' TERM
# In the child's process group: a plain background job.
sh -c 'echo "group $$" >> "$1"; exec sleep "$2"' sh "$pids" "$token" </dev/null >/dev/null 2>&1 &
# In a session (and a group) of its own.
setsid sh -c 'echo "session $$" >> "$1"; exec sleep "$2"' sh "$pids" "$token" </dev/null >/dev/null 2>&1 &
# Double-forked: the subshell that started it exits at once, so it is
# reparented away from the child; and it made its own session.
( setsid sh -c 'echo "double $$" >> "$1"; exec sleep "$2"' sh "$pids" "$token" </dev/null >/dev/null 2>&1 & ) &
tries=0
while [ "$(grep -c -E '^(group|session|double) ' "$pids")" -lt 3 ] && [ $tries -lt 2000 ]; do
  sleep 0.01; tries=$((tries + 1))
done
[ "$3" = exit ] && exit 0
exec sleep "$token"
)SH";

// The same three from a Python worker: fray_tree_probe:start_tree(PIDS_FILE,
// TOKEN, SECONDS) writes "child PID" (the worker's), starts them, waits until each has written its pid, then
// sleeps SECONDS (0: answers at once) and answers the worker's pid.
constexpr const char* kTreeModule = R"PY(import os
import subprocess
import time


def _sleeper(kind, pids_file, token):
    return ["sh", "-c", "trap '' TERM; echo \"%s $$\" >> \"$1\"; exec sleep \"$2\"" % kind, "sh", pids_file, token]


def start_tree(pids_file, token, seconds=0):
    with open(pids_file, "a") as f:
        f.write("child %d\n" % os.getpid())
    quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # In the worker's process group.
    subprocess.Popen(_sleeper("group", pids_file, token), **quiet)
    # In a session of its own.
    subprocess.Popen(_sleeper("session", pids_file, token), start_new_session=True, **quiet)
    # Forked twice, with setsid in between: its parent exits at once.
    middle = os.fork()
    if middle == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.closerange(3, 65536)
                os.execvp("sh", _sleeper("double", pids_file, token))
        finally:
            os._exit(0)
    os.waitpid(middle, 0)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with open(pids_file) as f:
            if sum(1 for line in f if line.split(" ")[0] in ("group", "session", "double")) >= 3:
                break
        time.sleep(0.01)
    time.sleep(seconds)
    return os.getpid()
)PY";

// The kinds every tree has.
const std::vector<std::string> kKinds = {"child", "group", "session", "double"};

// A token no other test's processes carry: `sleep TOKEN` sleeps for over
// two hours, and its digits after the point make it unique.
std::string new_token() {
  static std::atomic<int> made{0};
  return fmt::format("7777.{}{:04}", ::getpid(), made.fetch_add(1));
}

// True when `pid` runs (not a zombie, not gone) with `token` among its
// arguments; a pid reused by another process does not count.
bool alive_with(int pid, const std::string& token) {
  if (pid <= 0 || process_gone(pid)) return false;
  const std::string cmdline = read_text(fmt::format("/proc/{}/cmdline", pid));
  std::size_t start = 0;
  while (start < cmdline.size()) {
    const std::size_t end = std::min(cmdline.find('\0', start), cmdline.size());
    if (cmdline.compare(start, end - start, token) == 0) return true;
    start = end + 1;
  }
  return false;
}

// For the kinds of a tree: the child may be a Python worker, which does not
// carry the token (it is known by its command line instead).
bool tree_member_alive(const std::string& kind, int pid, const std::string& token) {
  if (alive_with(pid, token)) return true;
  return kind == "child" && !process_gone(pid) &&
         read_text(fmt::format("/proc/{}/cmdline", pid)).find("fray_worker") != std::string::npos;
}

// Every running process with `token` among its arguments.
std::vector<int> processes_with(const std::string& token) {
  std::vector<int> found;
  for (const auto& name : entries("/proc")) {
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    const int pid = std::atoi(name.c_str());
    if (alive_with(pid, token)) found.push_back(pid);
  }
  return found;
}

void kill_all_with(const std::string& token) noexcept {
  for (int pid : processes_with(token)) ::kill(pid, SIGKILL);
}

// Kills whatever of one test's processes is left when the test ends, passed
// or failed, so a failing run leaves nothing behind.
struct Survivors {
  std::string token;
  ~Survivors() { kill_all_with(token); }
};

// A watchdog that also kills the test's processes if it fires.
struct CleaningWatchdog : Watchdog {
  CleaningWatchdog(std::string what, const std::string& token, std::chrono::seconds limit = 120s)
      : Watchdog(std::move(what), limit, [token] { kill_all_with(token); }) {}
};

// "KIND PID" lines of a pids file.
std::map<std::string, int> read_tree(const fs::path& file) {
  std::map<std::string, int> tree;
  std::istringstream lines(read_text(file));
  for (std::string kind, pid; lines >> kind >> pid;) tree[kind] = std::atoi(pid.c_str());
  return tree;
}

bool tree_complete(const fs::path& file) {
  const auto tree = read_tree(file);
  return std::all_of(kKinds.begin(), kKinds.end(), [&](const std::string& kind) { return tree.count(kind) == 1; });
}

// One test's scratch: its token, the script and module, the pids file.
struct Scratch {
  TempDir dir{"fray-tree-"};
  std::string token = new_token();
  Survivors survivors{token};
  fs::path script = dir / "tree.sh";
  fs::path pids = dir / "pids";
  Scratch() {
    write_text(script, kTreeScript);
    write_text(dir / "fray_tree_probe.py", kTreeModule);
  }
  std::vector<std::string> run_argv() const { return {"sh", script.string(), pids.string(), token}; }
};

// Requires the whole tree to have started and to run now.
std::map<std::string, int> started_tree(const Scratch& scratch) {
  INFO("pids file: " << read_text(scratch.pids));
  REQUIRE(tree_complete(scratch.pids));
  const auto tree = read_tree(scratch.pids);
  return tree;
}

void require_all_alive(const Scratch& scratch, const std::map<std::string, int>& tree) {
  for (const auto& [kind, pid] : tree) {
    INFO("the " << kind << " process (pid " << pid << ") should run before the test stops anything");
    // Polled: a process that just wrote its pid may be in the middle of
    // exec, when /proc/PID/cmdline reads empty for a moment.
    REQUIRE(eventually([&, kind = kind, pid = pid] { return tree_member_alive(kind, pid, scratch.token); }, 5s));
  }
}

// Checks that no process of the tree runs, polling up to `limit` first.
// The bound is no timing assertion: it only absorbs signal delivery and
// exits that happen after what the test waited for (a driver's death is
// seen by its children through the kernel, not at once); a survivor
// stays alive forever, so any bound tells the two apart.
void check_all_dead(const Scratch& scratch, const std::map<std::string, int>& tree, std::chrono::milliseconds limit) {
  const auto any_alive = [&] {
    return std::any_of(tree.begin(), tree.end(),
                       [&](const auto& entry) { return tree_member_alive(entry.first, entry.second, scratch.token); });
  };
  eventually([&] { return !any_alive(); }, limit);
  for (const auto& [kind, pid] : tree) {
    CHECK_MESSAGE(!tree_member_alive(kind, pid, scratch.token), "the " << kind << " process (pid " << pid << ", state "
                                                         << std::string(1, process_state(pid)) << ") is still alive");
  }
  const auto left = processes_with(scratch.token);
  CHECK_MESSAGE(left.empty(), left.size() << " process(es) of the test still run");
}

// The plain env every test uses (and the driver opens too: a cache hit).
const IsolatedVirtualEnv& plain_env() {
  static IsolatedVirtualEnv env(venv_options(shared_cache()));
  return env;
}

// The driver, SIGKILLed and reaped by the test, or at the end of the test.
struct Driver {
  pid_t pid = -1;
  Driver(const std::string& mode, const std::string& where, const Scratch& scratch) {
    const std::string program = FRAY_BUILD_DIR "/test/process_tree_driver";
    std::vector<std::string> args = {program, shared_cache().string(), mode, where, scratch.pids.string(), scratch.token};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    REQUIRE(::posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
  }
  int kill_and_reap() {
    int status = 0;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    pid = -1;
    return status;
  }
  ~Driver() {
    if (pid > 0) kill_and_reap();
  }
};

void driver_killed(const std::string& mode) {
  Scratch scratch;
  CleaningWatchdog watchdog("a driver killed with SIGKILL (" + mode + ")", scratch.token);
  (void)plain_env();  // built before the driver opens it
  Driver driver(mode, mode == "run" ? scratch.script.string() : scratch.dir.path().string(), scratch);
  // The bound covers starting the driver, its env (a cache hit) and a worker.
  REQUIRE_MESSAGE(eventually([&] { return tree_complete(scratch.pids); }, 60s),
                  "the driver never reported its whole tree; pids file: " << read_text(scratch.pids));
  const auto tree = started_tree(scratch);
  require_all_alive(scratch, tree);
  const int status = driver.kill_and_reap();
  CHECK(WIFSIGNALED(status));
  // Ten seconds: the driver's death reaches its children through the kernel
  // (PR_SET_PDEATHSIG, a guard that sees its parent gone), not at once.
  check_all_dead(scratch, tree, 10s);
}

WorkerPoolOptions quiet_pool(const Scratch& scratch) {
  return WorkerPoolOptions{}.with_max_workers(1).with_cwd(scratch.dir.path()).with_log_sink([](const fray::WorkerLogLine&) {});
}

// Two seconds: once fray reports the child stopped, its tree is already
// killed; the bound only absorbs the kernel delivering the SIGKILLs.
constexpr auto kAfterCompletion = 2s;

}  // namespace

// --- the driver dies ---------------------------------------------------------

TEST_CASE("when the driver is killed with SIGKILL, everything its run started dies: in its group, in a session of its own, double-forked") {
  driver_killed("run");
}

TEST_CASE("when the driver is killed with SIGKILL, everything its Python worker started dies: in its group, in a session of its own, double-forked") {
  driver_killed("worker");
}

// --- fray stops a run ----------------------------------------------------------

TEST_CASE("once a timed-out run's future fails with ProcessTimeout, nothing the run started is alive, even what ignores SIGTERM, left its session or double-forked") {
  Scratch scratch;
  CleaningWatchdog watchdog("a timed-out run with grandchildren", scratch.token);
  // Three seconds to start the tree (a few shell processes) before the
  // timeout; if that was not enough, the test says so below (no false pass).
  auto running = plain_env().run(scratch.run_argv(), RunOptions{}.with_timeout(3s).with_kill_grace(300ms));
  CHECK_THROWS_AS(running.get(), fray::ProcessTimeout);
  const auto tree = started_tree(scratch);
  check_all_dead(scratch, tree, kAfterCompletion);
}

TEST_CASE("once a cancelled run's future fails with TaskCancelled, nothing the run started is alive, even what left its session or double-forked") {
  Scratch scratch;
  CleaningWatchdog watchdog("a cancelled run with grandchildren", scratch.token);
  auto running = plain_env().run(scratch.run_argv(), RunOptions{}.with_kill_grace(300ms));
  REQUIRE(eventually([&] { return tree_complete(scratch.pids); }));
  const auto tree = started_tree(scratch);
  require_all_alive(scratch, tree);
  running.cancel();
  CHECK_THROWS_AS(running.get(), fray::TaskCancelled);
  check_all_dead(scratch, tree, kAfterCompletion);
}

TEST_CASE("once an env is closed with a run in progress, nothing the run started is alive, even what left its session or double-forked") {
  Scratch scratch;
  CleaningWatchdog watchdog("an env closed with a run in progress", scratch.token);
  IsolatedVirtualEnv env(venv_options(shared_cache()));
  auto running = env.run(scratch.run_argv(), RunOptions{}.with_kill_grace(300ms));
  REQUIRE(eventually([&] { return tree_complete(scratch.pids); }));
  const auto tree = started_tree(scratch);
  require_all_alive(scratch, tree);
  env.close();
  CHECK(running.ready());  // close() waits until its processes are reaped
  CHECK_THROWS_AS(running.get(), fray::TaskCancelled);
  check_all_dead(scratch, tree, kAfterCompletion);
}

TEST_CASE("once a run whose process exited normally completes, the daemons it left behind are dead: in its group, in a session of their own, double-forked") {
  Scratch scratch;
  CleaningWatchdog watchdog("a run that leaves daemons behind", scratch.token);
  std::vector<std::string> argv = scratch.run_argv();
  argv.push_back("exit");
  const fray::ProcessResult result = plain_env().run(argv).get();
  CHECK(result.exit_code == 0);
  const auto tree = started_tree(scratch);
  check_all_dead(scratch, tree, kAfterCompletion);
}

// --- fray stops a Python worker --------------------------------------------------

TEST_CASE("once a pool is closed, nothing its worker started is alive: in its group, in a session of its own, double-forked") {
  Scratch scratch;
  CleaningWatchdog watchdog("a pool closed with a worker's grandchildren", scratch.token);
  WorkerPool pool(plain_env(), quiet_pool(scratch));
  const int worker = pool.call<int>("fray_tree_probe:start_tree", scratch.pids.string(), scratch.token).get();
  const auto tree = started_tree(scratch);
  CHECK(tree.at("child") == worker);
  require_all_alive(scratch, tree);
  pool.close();
  check_all_dead(scratch, tree, kAfterCompletion);
}

TEST_CASE("once a call fails with PythonCallTimeout, nothing its worker started is alive: in its group, in a session of its own, double-forked") {
  Scratch scratch;
  CleaningWatchdog watchdog("a timed-out call with a worker's grandchildren", scratch.token);
  WorkerPool pool(plain_env(), quiet_pool(scratch));
  // Three seconds to start the tree before the timeout; checked below.
  auto call = pool.call<int>(fray::PythonCallOptions{}.with_timeout(3s), "fray_tree_probe:start_tree",
                             scratch.pids.string(), scratch.token, 600);
  CHECK_THROWS_AS(call.get(), fray::PythonCallTimeout);
  const auto tree = started_tree(scratch);
  check_all_dead(scratch, tree, kAfterCompletion);
}

// --- SIGTERM first, to every process ---------------------------------------------

namespace {

// sh term.sh MARKS TOKEN: starts four grandchildren, each in a session of its
// own, that write "term PID" to MARKS on SIGTERM and exit; then becomes a
// `sleep`, which dies at once on SIGTERM, handing them to its guard.
constexpr const char* kTermScript = R"SH(marks=$1 token=$2
for i in 1 2 3 4; do
  setsid sh -c 'trap "echo term \$\$ >> \"\$1\"; exit 0" TERM; echo "started $$" >> "$1"; while :; do sleep 0.02; done' sh "$marks" "$token" </dev/null >/dev/null 2>&1 &
done
tries=0
while [ "$(grep -c '^started ' "$marks")" -lt 4 ] && [ $tries -lt 2000 ]; do
  sleep 0.01; tries=$((tries + 1))
done
exec sleep "$token"
)SH";

std::vector<std::string> marked(const fs::path& file, const std::string& word) {
  std::vector<std::string> pids;
  std::istringstream lines(read_text(file));
  for (std::string kind, pid; lines >> kind >> pid;) {
    if (kind == word) pids.push_back(pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace

TEST_CASE("a cancelled run's SIGTERM reaches every process it started before the grace ends, even those whose parent died of it at once") {
  // Five rounds: whether the child dies before its children are looked up
  // is a race, which a guard that signals as it walks loses now and then.
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    Scratch scratch;
    CleaningWatchdog watchdog("a cancelled run whose grandchildren trap SIGTERM", scratch.token);
    const fs::path script = scratch.dir / "term.sh", marks = scratch.dir / "marks";
    write_text(script, kTermScript);
    // A grace long enough for every trap to run: SIGKILL must not be what ends them.
    auto running = plain_env().run({"sh", script.string(), marks.string(), scratch.token},
                                   RunOptions{}.with_kill_grace(20s));
    REQUIRE_MESSAGE(eventually([&] { return marked(marks, "started").size() == 4; }, 30s),
                    "the grandchildren never all started: " << read_text(marks));
    running.cancel();
    CHECK_THROWS_AS(running.get(), fray::TaskCancelled);
    INFO("marks: " << read_text(marks));
    CHECK(marked(marks, "term") == marked(marks, "started"));
  }
}

TEST_CASE("a run's guard ignores signals from anyone but its driver, and its command line is not the child's") {
  Scratch scratch;
  CleaningWatchdog watchdog("a run whose guard is signalled by a stranger", scratch.token);
  auto running = plain_env().run(scratch.run_argv(), RunOptions{}.with_kill_grace(300ms));
  REQUIRE(eventually([&] { return tree_complete(scratch.pids); }));
  const auto tree = started_tree(scratch);
  const int guard = parent_of(tree.at("child"));
  REQUIRE(guard > 1);
  // `pkill -f TOKEN` aimed at the child must not hit the guard.
  CHECK(read_text(fmt::format("/proc/{}/cmdline", guard)).find(scratch.token) == std::string::npos);
  // What fray sends to stop and to kill, and the usual SIGTERM and SIGUSR1,
  // from a stranger (this test is the driver: it must not send them itself).
  REQUIRE(std::system(fmt::format("kill -s {1} {0} && kill -s {2} {0} && kill -TERM {0} && kill -USR1 {0}", guard,
                                  fray::detail::child_guard::stop_signal, fray::detail::child_guard::kill_signal)
                          .c_str()) == 0);
  // A guard that obeyed would have killed the tree within milliseconds; a
  // tree left alone stays alive forever, so any wait tells the two apart.
  std::this_thread::sleep_for(300ms);
  require_all_alive(scratch, tree);
  CHECK_FALSE(running.ready());
  running.cancel();
  CHECK_THROWS_AS(running.get(), fray::TaskCancelled);
  check_all_dead(scratch, tree, kAfterCompletion);
}

TEST_CASE("a stranger's stop and kill signals pending in a run's guard do not swallow the driver's own") {
  Scratch scratch;
  CleaningWatchdog watchdog("a run whose guard had a stranger's signals pending", scratch.token, 60s);
  auto running = plain_env().run(scratch.run_argv(), RunOptions{}.with_kill_grace(300ms));
  REQUIRE(eventually([&] { return tree_complete(scratch.pids); }));
  const auto tree = started_tree(scratch);
  const int guard = parent_of(tree.at("child"));
  REQUIRE(guard > 1);
  // Stopped, the guard takes no signal: the stranger's stay pending, and
  // the driver's (the cancel's stop, then its kill after the grace) come on
  // top of them. A standard signal would merge with the stranger's copy.
  REQUIRE(::kill(guard, SIGSTOP) == 0);
  REQUIRE(std::system(fmt::format("kill -s {1} {0} && kill -s {2} {0}", guard, fray::detail::child_guard::stop_signal,
                                  fray::detail::child_guard::kill_signal)
                          .c_str()) == 0);
  running.cancel();
  std::this_thread::sleep_for(800ms);  // past the grace: the driver has sent its kill (order, not timing)
  REQUIRE(::kill(guard, SIGCONT) == 0);
  CHECK_THROWS_AS(running.get(), fray::TaskCancelled);
  check_all_dead(scratch, tree, kAfterCompletion);
}
