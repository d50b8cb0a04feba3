// Python workers: functions in warm pools and Python actors in isolated envs,
// their errors (exceptions, crashes, timeouts, cancel, oversized frames),
// logs, large and unicode data, no orphans when the driver is killed, and
// `fray call`. Offline: fray_probe 1.0 / 2.0 wheels built at test time.
#include "test_support.hpp"
#include "venv_test_support.hpp"

#include <fray/python.hpp>

#include <boost/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>

using namespace fray_test;
using namespace std::chrono_literals;
using fray::IsolatedVirtualEnv;
using fray::PythonActorOptions;
using fray::WorkerPool;
using fray::WorkerPoolOptions;
namespace json = boost::json;

extern char** environ;

namespace {

// One env per fray_probe version, built once per test run.
const IsolatedVirtualEnv& probe_env(int version) {
  static IsolatedVirtualEnv v1(probe_options(shared_cache(), 1));
  static IsolatedVirtualEnv v2(probe_options(shared_cache(), 2));
  return version == 1 ? v1 : v2;
}

// Collects the workers' log lines.
struct LogLines {
  std::mutex mutex;
  std::vector<std::string> lines;  // "label|out|line"
  fray::WorkerLogSink sink() {
    return [this](const fray::WorkerLogLine& line) {
      std::lock_guard guard(mutex);
      lines.push_back(fmt::format("{}|{}|{}", line.worker, line.is_stderr ? "err" : "out", line.line));
    };
  }
  bool has(const std::string& text) {
    std::lock_guard guard(mutex);
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(text) != std::string::npos; });
  }
};

// Quiet pools for tests that make workers print on purpose.
WorkerPoolOptions quiet(WorkerPoolOptions options = {}) {
  return options.with_log_sink([](const fray::WorkerLogLine&) {});
}

bool pid_gone(int pid) { return process_gone(pid); }

// A user type crossing as JSON.
struct Point {
  int x = 0;
  int y = 0;
};
void tag_invoke(const json::value_from_tag&, json::value& v, const Point& p) { v = {{"x", p.x}, {"y", p.y}}; }
Point tag_invoke(const json::value_to_tag<Point>&, const json::value& v) {
  return Point{int(v.at("x").as_int64()), int(v.at("y").as_int64())};
}

}  // namespace

TEST_CASE("two envs with fray_probe 1.0 and 2.0 answer concurrently, each with its own version") {
  WorkerPool one(probe_env(1), WorkerPoolOptions{}.with_max_workers(2));
  WorkerPool two(probe_env(2), WorkerPoolOptions{}.with_max_workers(2));
  std::vector<fray::Future<std::string>> ones, twos;
  for (int i = 0; i < 20; ++i) {
    ones.push_back(one.call<std::string>("fray_probe.calls:version"));
    twos.push_back(two.call<std::string>("fray_probe.calls:version"));
  }
  for (auto& f : ones) CHECK(f.get() == "1.0");
  for (auto& f : twos) CHECK(f.get() == "2.0");
}

TEST_CASE("a Python call takes positional, keyword and user-type arguments and converts its result") {
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
  CHECK(pool.call<int>("fray_probe.calls:add", 2, 3).get() == 5);
  CHECK(pool.call<std::string>("fray_probe.calls:add", std::string("a"), std::string("b")).get() == "ab");
  const json::value echoed =
      pool.call("fray_probe.calls:echo", 1, std::vector<int>{2, 3}, fray::kw("name", "x"), fray::kw("flag", true)).get();
  CHECK(echoed.at("args") == json::parse(R"([1, [2, 3]])"));
  CHECK(echoed.at("kwargs") == json::parse(R"({"name": "x", "flag": true})"));
  const Point p = pool.call<Point>("fray_probe.calls:identity", Point{4, 5}).get();
  CHECK(p.x == 4);
  CHECK(p.y == 5);
  pool.call<void>("fray_probe.calls:add", 1, 1).get();
}

TEST_CASE("a Python exception becomes a PythonError with its type, message and traceback") {
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
  const auto error = error_of<fray::PythonError>(pool.call("fray_probe.calls:fail", "no good"));
  CHECK(error.type() == "ValueError");
  CHECK(error.module() == "builtins");
  CHECK(error.message() == "no good");
  CHECK(error.traceback().find("Traceback (most recent call last)") != std::string::npos);
  CHECK(error.traceback().find("in fail") != std::string::npos);
  CHECK(std::string(error.what()).find("ValueError: no good") != std::string::npos);
  // The worker lives on.
  CHECK(pool.call<int>("fray_probe.calls:add", 1, 2).get() == 3);
  // A result that is not JSON is the call's error too.
  CHECK(error_of<fray::PythonError>(pool.call("fray_probe.calls:not_json")).type() == "NotJsonSerializable");
}

TEST_CASE("a missing module or function is a clear PythonFunctionNotFound error, not a crash") {
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
  const int pid = pool.call<int>("fray_probe.calls:pid").get();
  const auto no_module = error_of<fray::PythonFunctionNotFound>(pool.call("no_such_module:f"));
  CHECK(no_module.type() == "ModuleNotFoundError");
  CHECK(no_module.message().find("cannot import module 'no_such_module'") != std::string::npos);
  const auto no_function = error_of<fray::PythonFunctionNotFound>(pool.call("fray_probe.calls:nope"));
  CHECK(no_function.type() == "AttributeError");
  CHECK(no_function.message().find("has no attribute 'nope'") != std::string::npos);
  const auto malformed = error_of<fray::PythonFunctionNotFound>(pool.call("fray_probe.calls"));
  CHECK(malformed.message().find("package.module:function") != std::string::npos);
  CHECK(pool.call<int>("fray_probe.calls:pid").get() == pid);
}

TEST_CASE("a worker that crashes fails only its own call with WorkerCrashed, and the pool replaces it") {
  WorkerPool pool(probe_env(1), quiet(WorkerPoolOptions{}.with_max_workers(2)));
  struct Kind {
    const char* function;
    std::optional<int> signal, exit_code;
  };
  for (const Kind& kind : {Kind{"segfault", SIGSEGV, {}}, Kind{"kill_self", SIGKILL, {}}, Kind{"exit_now", {}, 7}}) {
    CAPTURE(kind.function);
    // Another call runs on the other worker meanwhile.
    auto bystander = pool.call<double>("fray_probe.calls:sleep", 0.3);
    auto crashing = std::string(kind.function) == "exit_now" ? pool.call("fray_probe.calls:exit_now", 7)
                                                             : pool.call(std::string("fray_probe.calls:") + kind.function);
    const auto crash = error_of<fray::WorkerCrashed>(std::move(crashing));
    CHECK(crash.signal() == kind.signal);
    CHECK(crash.exit_code() == kind.exit_code);
    CHECK(crash.pid() > 0);
    CHECK(eventually([&] { return pid_gone(crash.pid()); }));
    if (kind.signal == SIGSEGV) {
      // faulthandler's dump reaches the error.
      CHECK(std::any_of(crash.last_stderr().begin(), crash.last_stderr().end(),
                        [](const std::string& l) { return l.find("Segmentation fault") != std::string::npos; }));
    }
    CHECK(bystander.get() == doctest::Approx(0.3));
    const int pid = pool.call<int>("fray_probe.calls:pid").get();
    CHECK(pid != crash.pid());
  }
  CHECK(zombie_children() == 0);
}

TEST_CASE("a call past its timeout fails with PythonCallTimeout, and its worker is killed and replaced") {
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
  const int first = pool.call<int>("fray_probe.calls:pid").get();
  auto slow = pool.call(fray::PythonCallOptions{}.with_timeout(200ms), "fray_probe.calls:sleep", 30);
  // Queued behind it on the same worker: it never started, so it runs on the replacement.
  auto behind = pool.call<int>("fray_probe.calls:pid");
  CHECK_THROWS_AS(slow.get(), fray::PythonCallTimeout);
  CHECK(eventually([&] { return pid_gone(first); }));
  const int second = behind.get();
  CHECK(second != first);
  // The pool's default timeout applies to every call.
  WorkerPool strict(probe_env(1), WorkerPoolOptions{}.with_max_workers(1).with_call_timeout(200ms));
  CHECK_THROWS_AS(strict.call("fray_probe.calls:sleep", 30).get(), fray::PythonCallTimeout);
  CHECK(strict.call<int>("fray_probe.calls:add", 1, 1).get() == 2);
}

TEST_CASE("a call timeout, idle timeout or cancel grace of hours::max() means never, not a kill at once") {
  Watchdog watchdog("never timeouts", std::chrono::seconds(120));
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}
                                    .with_max_workers(1)
                                    .with_call_timeout(std::chrono::hours::max())
                                    .with_idle_timeout(std::chrono::hours::max())
                                    .with_cancel_grace(std::chrono::hours::max()));
  const int first = pool.call<int>("fray_probe.calls:pid").get();
  pool.call(fray::PythonCallOptions{}.with_timeout(std::chrono::hours::max()), "fray_probe.calls:sleep", 0.2).get();
  fray::PythonCallOptions largest;
  largest.timeout = std::chrono::milliseconds::max();
  pool.call(largest, "fray_probe.calls:sleep", 0.2).get();
  CHECK(pool.call<int>("fray_probe.calls:pid").get() == first);  // the same worker: none was killed
}

TEST_CASE("a timed-out call's worker is killed with what it started, even in a session of its own") {
  TempDir dir("fray-detached-");
  const std::string pid_file = (dir.path() / "grandchild.pid").string();
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
  auto call = pool.call<int>(fray::PythonCallOptions{}.with_timeout(5s), "fray_probe.calls:sleep_with_detached_child",
                             60, pid_file);
  REQUIRE(eventually([&] { return std::filesystem::exists(pid_file); }));
  const int grandchild = std::stoi(read_text(pid_file));
  CHECK_FALSE(pid_gone(grandchild));
  CHECK_THROWS_AS(call.get(), fray::PythonCallTimeout);
  CHECK(eventually([&] { return pid_gone(grandchild); }));
}

TEST_CASE("cancel interrupts a running call with KeyboardInterrupt and keeps the worker") {
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
  const int pid = pool.call<int>("fray_probe.calls:pid").get();
  TempDir dir("fray-pyworker-");
  const std::string marker = (dir / "interrupted").string();
  auto slow = pool.call("fray_probe.calls:sleep_noting_interrupt", 30, marker);
  std::this_thread::sleep_for(300ms);  // let it start (not a timing assertion)
  CHECK_FALSE(slow.cancel());
  CHECK_THROWS_AS(slow.get(), fray::TaskCancelled);
  CHECK(read_text(marker) == "KeyboardInterrupt");  // Python saw the interrupt
  CHECK(pool.call<int>("fray_probe.calls:pid").get() == pid);
}

TEST_CASE("a call that ignores KeyboardInterrupt is stopped by killing its worker after the grace period") {
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1).with_cancel_grace(300ms));
  const int pid = pool.call<int>("fray_probe.calls:pid").get();
  auto stubborn = pool.call("fray_probe.calls:sleep_ignoring_interrupts", 30);
  std::this_thread::sleep_for(300ms);
  stubborn.cancel();
  CHECK_THROWS_AS(stubborn.get(), fray::TaskCancelled);
  CHECK(eventually([&] { return pid_gone(pid); }));
  CHECK(pool.call<int>("fray_probe.calls:pid").get() != pid);
}

TEST_CASE("a call cancelled while it waits for a worker never runs") {
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1).with_pipeline_depth(1));
  auto busy = pool.call<double>("fray_probe.calls:sleep", 0.5);
  auto waiting = pool.call("fray_probe.calls:exit_now", 3);  // would crash the worker if it ran
  CHECK_FALSE(waiting.cancel());
  CHECK_THROWS_AS(waiting.get(), fray::TaskCancelled);
  CHECK(busy.get() == doctest::Approx(0.5));
  CHECK(pool.size() == 1);
}

TEST_CASE("user code that prints reaches the log sink tagged with its worker, and the protocol is unharmed") {
  LogLines logs;
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_name("printer").with_max_workers(1).with_log_sink(logs.sink()));
  for (int i = 0; i < 20; ++i) CHECK(pool.call<int>("fray_probe.calls:shout", fmt::format("hello {}", i)).get() == int(fmt::format("hello {}", i).size()));
  CHECK(eventually([&] { return logs.has("printer#1|out|hello 19"); }));
  CHECK(logs.has("printer#1|err|err:hello 0"));
}

TEST_CASE("a worker flooding a slow log sink does not hold up another pool's answers until the flood is delivered") {
  Watchdog watchdog("a flood of log lines into a slow sink", 180s);
  constexpr int kLines = 200'000;
  // About 20 us a line: the whole flood takes the sink seconds.
  std::atomic<int> seen{0};
  auto slow_sink = [&seen](const fray::WorkerLogLine& line) {
    if (!line.line.starts_with("flood ")) return;
    const auto until = std::chrono::steady_clock::now() + 20us;
    while (std::chrono::steady_clock::now() < until) {
    }
    seen.fetch_add(1, std::memory_order_relaxed);
  };
  WorkerPool noisy(probe_env(1), WorkerPoolOptions{}.with_name("noisy").with_max_workers(1).with_log_sink(slow_sink));
  WorkerPool other(probe_env(1), quiet(WorkerPoolOptions{}.with_name("other").with_max_workers(1)));
  CHECK(noisy.call<int>("fray_probe.calls:pid").get() > 0);
  const int other_pid = other.call<int>("fray_probe.calls:pid").get();
  auto flood = noisy.call<int>("fray_probe.calls:flood", kLines);
  REQUIRE(eventually([&] { return seen.load() > 0; }, 60s));
  // The other pool's answer arrives while the flood is still being delivered.
  CHECK(other.call<int>("fray_probe.calls:pid").get() == other_pid);
  const int seen_when_answered = seen.load();
  INFO("lines the slow sink had seen when the other pool answered: ", seen_when_answered);
  CHECK(seen_when_answered < kLines);
  CHECK(flood.get() == kLines);
  CHECK(eventually([&] { return seen.load() == kLines; }, 120s));
}

TEST_CASE("a worker holds stdin, stdout, stderr and its three protocol descriptors, and none of the driver's") {
  // A descriptor the driver opened without O_CLOEXEC, below and above the
  // protocol's, must not reach the worker.
  TempDir dir("fray-fds-");
  const std::string secret = (dir / "driver-secret").string();
  write_text(secret, "");
  const int low = ::open(secret.c_str(), O_RDONLY);
  const int high = ::fcntl(low, F_DUPFD, 900);
  REQUIRE(low >= 0);
  REQUIRE(high >= 900);
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
  const auto fds = pool.call<std::map<std::string, std::string>>("fray_probe.calls:open_fds").get();
  ::close(low);
  ::close(high);
  std::vector<std::string> kinds;
  for (const auto& [fd, target] : fds) {
    CHECK(target.find("driver-secret") == std::string::npos);
    if (fd != "0" && fd != "1" && fd != "2") kinds.push_back(target.substr(0, target.find(':')));
  }
  std::sort(kinds.begin(), kinds.end());
  // The bell, the journal (shared memory on x86, else a pipe), the requests.
  const bool shared_journal = kinds == std::vector<std::string>{"/memfd", "pipe", "socket"};
  CHECK((shared_journal || kinds == std::vector<std::string>{"pipe", "pipe", "socket"}));
  CHECK(fds.at("0") == "/dev/null");
}

TEST_CASE("a worker that cannot start fails the call with WorkerCrashed saying why, and the pool stays usable") {
  TempDir dir("fray-gone-cwd-");
  const auto cwd = dir / "workdir";
  std::filesystem::create_directory(cwd);
  LogLines logs;
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_name("w").with_cwd(cwd).with_min_workers(1).with_max_workers(1).with_log_sink(logs.sink()));
  CHECK(pool.call<int>("fray_probe.calls:add", 1, 2).get() == 3);
  std::filesystem::remove(cwd);  // the next worker has nowhere to start
  (void)error_of<fray::WorkerCrashed>(pool.call<int>("fray_probe.calls:exit_now", 3));
  const auto crashed = error_of<fray::WorkerCrashed>(pool.call<int>("fray_probe.calls:add", 1, 2));
  CHECK(std::string(crashed.what()).find("could not start") != std::string::npos);
  CHECK(std::string(crashed.what()).find("working directory " + cwd.string() + " does not exist") != std::string::npos);
  // It does not keep replacing its prestarted worker (which would fail the
  // same way, over and over): the pool empties.
  CHECK(eventually([&] { return pool.size() == 0; }));
  std::filesystem::create_directory(cwd);
  CHECK(pool.call<int>("fray_probe.calls:shout", "back").get() == 4);
  // Workers are numbered as they start: none was started in between.
  CHECK(eventually([&] { return logs.has("|out|back"); }));
  CHECK((logs.has("w#3|out|back") || logs.has("w#4|out|back")));
}

TEST_CASE("a 10 MB argument and a 10 MB result cross intact") {
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
  std::string big(10 << 20, 'a');
  big[12345] = 'b';
  CHECK(pool.call<std::size_t>("fray_probe.calls:length", big).get() == big.size());
  const std::string back = pool.call<std::string>("fray_probe.calls:identity", big).get();
  CHECK(back == big);
  const std::string made = pool.call<std::string>("fray_probe.calls:make_string", 10 << 20).get();
  CHECK(made.size() == std::size_t(10 << 20));
}

TEST_CASE("unicode strings cross intact both ways") {
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
  const std::string text = "héllo wörld ✓ 日本語 🎉 \"quoted\" \\ tab\t newline\n nul-free";
  CHECK(pool.call<std::string>("fray_probe.calls:identity", text).get() == text);
  CHECK(pool.call<int>("fray_probe.calls:length", std::string("🎉é")).get() == 2);  // code points in Python
  CHECK(pool.call<std::string>("fray_probe.calls:make_string", 3, "ü").get() == "üüü");
}

TEST_CASE("a request or a result over the frame size limit fails with FrameTooLarge, and the worker carries on") {
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1).with_max_frame_bytes(1 << 20));
  const int pid = pool.call<int>("fray_probe.calls:pid").get();
  const auto request = error_of<fray::FrameTooLarge>(pool.call("fray_probe.calls:length", std::string(2 << 20, 'x')));
  CHECK(std::string(request.what()).find("frame size limit of 1048576 bytes") != std::string::npos);
  const auto result = error_of<fray::FrameTooLarge>(pool.call("fray_probe.calls:make_string", 2 << 20));
  CHECK(std::string(result.what()).find("frame size limit") != std::string::npos);
  CHECK(pool.call<int>("fray_probe.calls:pid").get() == pid);
}

TEST_CASE("an exception longer than max_frame_bytes arrives cut to fit as a PythonError, and the worker lives on") {
  Watchdog watchdog("an oversized exception", 120s);
  constexpr std::size_t kMaxFrame = 64 << 10;
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1).with_max_frame_bytes(kMaxFrame));
  const int pid = pool.call<int>("fray_probe.calls:pid").get();
  // A million 'é', each 6 bytes of escaped JSON: about 90 times the limit, twice (message and traceback).
  const auto error = error_of<fray::PythonError>(pool.call("fray_probe.calls:fail_long", 1'000'000, "é"));
  CHECK(error.type() == "ValueError");
  CHECK(error.message().starts_with("éééé"));
  CHECK(error.message().ends_with("éééé"));
  CHECK(error.message().find("[fray: cut ") != std::string::npos);
  CHECK(error.message().find("max_frame_bytes=65536") != std::string::npos);
  CHECK(error.traceback().find("in fail_long") != std::string::npos);
  CHECK(std::string(error.what()).find("[fray: cut ") != std::string::npos);
  CHECK(error.message().size() + error.traceback().size() < kMaxFrame);
  CHECK(pool.call<int>("fray_probe.calls:pid").get() == pid);
}

TEST_CASE("workers are reused, started up to max_workers, recycled after max_calls and stopped when idle") {
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(2).with_max_calls(3).with_idle_timeout(300ms));
  std::set<int> pids;
  for (int i = 0; i < 9; ++i) pids.insert(pool.call<int>("fray_probe.calls:pid").get());
  CHECK(pids.size() == 3);  // one worker at a time, replaced after each 3 calls
  CHECK(eventually([&] { return pool.size() == 0; }));  // the idle one stopped
  WorkerPool warm(probe_env(1), WorkerPoolOptions{}.with_max_workers(3).with_min_workers(2));
  CHECK(eventually([&] { return warm.worker_pids().size() == 2; }));
  std::vector<fray::Future<double>> slow;
  for (int i = 0; i < 6; ++i) slow.push_back(warm.call<double>("fray_probe.calls:sleep", 0.2));
  CHECK(warm.size() <= 3);
  for (auto& f : slow) f.get();
  CHECK(zombie_children() == 0);
}

TEST_CASE("a pool's env vars reach its workers only") {
  WorkerPool a(probe_env(1), WorkerPoolOptions{}.with_max_workers(1).with_env("FRAY_TEST_VAR", "a"));
  WorkerPool b(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
  CHECK(a.call<std::string>("fray_probe.calls:env", "FRAY_TEST_VAR").get() == "a");
  CHECK(b.call("fray_probe.calls:env", "FRAY_TEST_VAR").get().is_null());
}

TEST_CASE("a pool and a Python actor keep their env on disk while they live, even after the env is closed") {
  Watchdog watchdog("an env kept by a pool and an actor", 180s);
  TempDir cache("fray-lease-cache-");
  IsolatedVirtualEnv env(probe_options(cache.path(), 1));
  const std::string key = env.key();
  fray::VenvCache venvs(cache.path());
  std::optional<WorkerPool> pool(std::in_place, env, WorkerPoolOptions{}.with_max_workers(1));
  std::optional<fray::PythonActor> counter = fray::create_python_actor(env, "fray_probe.calls:Counter", 1);
  CHECK(counter->call<int>("add", 1).get() == 2);
  const int actor_pid = counter->pid();
  env.close();
  CHECK_THROWS_AS(venvs.remove(key), fray::EnvInUse);
  // Both still work, from an env that is still there.
  CHECK(pool->call<std::string>("fray_probe.calls:version").get() == "1.0");
  CHECK(counter->call<int>("add", 1).get() == 3);
  CHECK(fs::exists(env.python()));
  pool.reset();  // closes the pool: the actor still holds the env
  CHECK_THROWS_AS(venvs.remove(key), fray::EnvInUse);
  counter.reset();  // its last handle: its process ends
  CHECK(eventually([&] { return pid_gone(actor_pid); }));
  const auto removed = [&] {
    try {
      return venvs.remove(key);
    } catch (const fray::EnvInUse&) {
      return false;  // until the actor's end reached its engine
    }
  };
  CHECK(eventually(removed));
  CHECK_FALSE(fs::exists(env.python()));
}

namespace {
fray::Task<int> add_in_python(fray::PythonFunction<int> add, int a, int b) {
  fray::Future<int> first = fray::run(add, a, b);
  int sum = co_await std::move(first);
  co_return sum;
}
}  // namespace

TEST_CASE("ctx.run of a pool's function is a task: awaitable, retried after a crash, cancellable") {
  for_each_context([](fray::ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    WorkerPool pool(probe_env(2), quiet(WorkerPoolOptions{}.with_max_workers(2)));
    CHECK(ctx.run(pool.function<int>("fray_probe.calls:add"), 20, 22).get() == 42);
    CHECK(ctx.run(add_in_python, pool.function<int>("fray_probe.calls:add"), 1, 2).get() == 3);
    TempDir dir("fray-pyworker-");
    const std::string marker = (dir / "crashed").string();
    auto retried = ctx.run(fray::TaskOptions{}.with_max_retries(1), pool.function<std::string>("fray_probe.calls:crash_once"), marker);
    CHECK(retried.get() == "second try");
    const std::string interrupted = (dir / "interrupted").string();
    auto slow = ctx.run(pool.function("fray_probe.calls:sleep_noting_interrupt"), 30, interrupted);
    if (kind == fray::ContextKind::threads) {
      // (The sync context starts a task only when its result is awaited.)
      std::this_thread::sleep_for(300ms);
      slow.cancel();
      CHECK_THROWS_AS(slow.get(), fray::TaskCancelled);
      CHECK(read_text(interrupted) == "KeyboardInterrupt");
    }
    // Retries by the call itself, without a task.
    std::filesystem::remove(marker);
    CHECK(pool.call<std::string>(fray::PythonCallOptions{}.with_max_retries(1), "fray_probe.calls:crash_once", marker).get() ==
          "second try");
  });
}

TEST_CASE("a Python actor keeps its state and runs calls one at a time in order") {
  auto counter = fray::create_python_actor(probe_env(1), "fray_probe.calls:Counter", 100);
  CHECK_NOTHROW(counter.ready().get());
  CHECK(counter.call<int>("add", 10).get() == 110);
  std::vector<fray::Future<int>> records;
  for (int i = 0; i < 200; ++i) records.push_back(counter.call<int>("record", i));
  for (int i = 0; i < 200; ++i) CHECK(records[i].get() == i + 1);
  const auto history = counter.call<std::vector<int>>("history").get();
  std::vector<int> expected(200);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(history == expected);
  CHECK(counter.call<int>("add", fray::kw("n", 5)).get() == 115);
  auto other = fray::create_python_actor(probe_env(1), "fray_probe.calls:Counter", 0, fray::kw("step", 2));
  CHECK(other.call<int>("add").get() == 2);
  CHECK(counter.call<int>("get").get() == 115);
  CHECK(error_of<fray::PythonError>(counter.call("add", "not a number")).type() == "TypeError");
  CHECK(error_of<fray::PythonFunctionNotFound>(counter.call("nope")).message().find("no method 'nope'") != std::string::npos);
  CHECK(counter.call<int>("get").get() == 115);
}

TEST_CASE("a Python actor whose constructor raises is dead: every call fails with ActorDied") {
  auto broken = fray::create_python_actor(probe_env(1), "fray_probe.calls:Broken");
  auto call = broken.call("get");
  const auto died = error_of<fray::ActorDied>(broken.ready());
  REQUIRE(died.cause() != nullptr);
  try {
    std::rethrow_exception(died.cause());
  } catch (const fray::PythonError& e) {
    CHECK(e.message() == "this actor cannot be built");
  }
  CHECK_THROWS_AS(call.get(), fray::ActorDied);
  CHECK_THROWS_AS(broken.call("get").get(), fray::ActorDied);
  CHECK_FALSE(broken.alive());
}

TEST_CASE("a crashed Python actor restarts up to max_restarts, re-running its constructor, then dies") {
  auto options = PythonActorOptions{}.with_max_restarts(1).with_log_sink([](const fray::WorkerLogLine&) {});
  auto counter = fray::create_python_actor(probe_env(1), options, "fray_probe.calls:Counter", 5);
  CHECK(counter.call<int>("add", 1).get() == 6);
  const int first_pid = counter.call<int>("pid").get();
  auto crash = counter.call("crash");
  auto after = counter.call<int>("add", 1);  // behind the crash: runs on the new instance
  const auto crashed = error_of<fray::WorkerCrashed>(std::move(crash));
  CHECK(crashed.exit_code() == 3);
  CHECK(after.get() == 6);  // the constructor ran again: the state started over at 5
  CHECK(counter.restarts() == 1);
  CHECK(counter.call<int>("pid").get() != first_pid);
  CHECK_THROWS_AS(counter.call("crash").get(), fray::ActorDied);
  CHECK_THROWS_AS(counter.call("get").get(), fray::ActorDied);
  CHECK_FALSE(counter.alive());
  CHECK(zombie_children() == 0);
}

TEST_CASE("max_task_retries runs the call that was running again on the restarted Python actor") {
  TempDir dir("fray-pyworker-");
  auto options = PythonActorOptions{}.with_max_restarts(1).with_max_task_retries(1).with_log_sink([](const fray::WorkerLogLine&) {});
  auto counter = fray::create_python_actor(probe_env(1), options, "fray_probe.calls:Counter", 7);
  CHECK(counter.call<std::string>("crash_once", (dir / "crashed").string()).get() == "second try");
  CHECK(counter.restarts() == 1);
  CHECK(counter.call<int>("get").get() == 7);
  // Without retries, the running call fails; past max_restarts, so does the actor.
  CHECK_THROWS_AS(counter.call("crash").get(), fray::ActorDied);
}

TEST_CASE("max_retries(-1) and max_task_retries(-1) retry a call through any number of crashes") {
  Watchdog watchdog("unlimited retries", 120s);
  TempDir dir("fray-pyworker-");
  const fs::path pool_crashes = dir / "pool", actor_crashes = dir / "actor";
  fs::create_directory(pool_crashes);
  fs::create_directory(actor_crashes);
  WorkerPool pool(probe_env(1), quiet(WorkerPoolOptions{}.with_max_workers(1)));
  CHECK(pool.call<int>(fray::PythonCallOptions{}.with_max_retries(-1), "fray_probe.calls:crash_n_times",
                       pool_crashes.string(), 3)
            .get() == 3);
  auto options = PythonActorOptions{}.with_max_restarts(-1).with_max_task_retries(-1).with_log_sink(
      [](const fray::WorkerLogLine&) {});
  auto counter = fray::create_python_actor(probe_env(1), options, "fray_probe.calls:Counter", 0);
  counter.ready().get();  // so the crash is not blamed on the constructor (issue 12)
  CHECK(counter.call<int>("crash_n_times", actor_crashes.string(), 3).get() == 3);
  CHECK(counter.restarts() == 3);
}

TEST_CASE("an actor call with only a per-call timeout keeps the actor's max_task_retries") {
  Watchdog watchdog("per-call options of an actor", 120s);
  TempDir dir("fray-pyworker-");
  auto options = PythonActorOptions{}.with_max_restarts(2).with_max_task_retries(1).with_log_sink(
      [](const fray::WorkerLogLine&) {});
  auto counter = fray::create_python_actor(probe_env(1), options, "fray_probe.calls:Counter", 0);
  counter.ready().get();  // so the crash is not blamed on the constructor (issue 12)
  CHECK(counter.call<std::string>(fray::PythonCallOptions{}.with_timeout(60s), "crash_once", (dir / "a").string())
            .get() == "second try");
  // A per-call max_retries still wins over the actor's.
  CHECK_THROWS_AS(
      counter.call<std::string>(fray::PythonCallOptions{}.with_max_retries(0), "crash_once", (dir / "b").string()).get(),
      fray::WorkerCrashed);
  CHECK(counter.restarts() == 2);
}

TEST_CASE("named Python actors: get_if_exists returns the live one, a taken name is an error, kill frees it") {
  auto first = fray::create_python_actor(probe_env(1), PythonActorOptions{}.with_name("py-counter"), "fray_probe.calls:Counter", 100);
  CHECK(first.call<int>("add", 10).get() == 110);
  CHECK_THROWS_AS(fray::create_python_actor(probe_env(1), PythonActorOptions{}.with_name("py-counter"), "fray_probe.calls:Counter", 1),
                  fray::ActorNameTaken);
  auto same = fray::create_python_actor(probe_env(1), PythonActorOptions{}.with_name("py-counter").with_get_if_exists(),
                                        "fray_probe.calls:Counter", 1);
  CHECK(same == first);
  CHECK(same.call<int>("add", 0).get() == 110);
  CHECK_THROWS_AS(fray::create_python_actor(probe_env(1), PythonActorOptions{}.with_name("py-counter").with_get_if_exists(),
                                            "fray_probe.calls:Broken"),
                  fray::ActorTypeMismatch);
  auto found = fray::get_python_actor("py-counter");
  REQUIRE(found);
  CHECK(found->call<int>("get").get() == 110);
  const int pid = first.pid();
  fray::kill(first);
  CHECK_THROWS_AS(same.call("get").get(), fray::ActorDied);
  CHECK_FALSE(fray::get_python_actor("py-counter"));
  CHECK(eventually([&] { return pid_gone(pid); }));
  auto again = fray::create_python_actor(probe_env(1), PythonActorOptions{}.with_name("py-counter"), "fray_probe.calls:Counter", 1);
  CHECK(again.call<int>("get").get() == 1);
  fray::kill(again);
}

TEST_CASE("an unnamed Python actor's process ends once its last handle is gone") {
  int pid = 0;
  {
    auto counter = fray::create_python_actor(probe_env(1), "fray_probe.calls:Counter");
    pid = counter.call<int>("pid").get();
  }
  CHECK(eventually([&] { return pid_gone(pid); }));
}

TEST_CASE("no orphans: when the driver is killed with SIGKILL, its workers and actors exit") {
  // The driver prints its workers' pids, then waits to be killed.
  const std::string driver = FRAY_BUILD_DIR "/test/pyworker_driver";
  const auto& wheels = test_wheels();
  TempDir tmp("fray-pyworker-");
  const std::string out = (tmp / "pids").string();
  std::vector<std::string> args = {driver, shared_cache().string(), wheels.v1.string(), out};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, driver.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
  REQUIRE(eventually([&] { return read_text(out).find("ready") != std::string::npos; }, 60s));
  std::vector<int> workers;
  std::istringstream text(read_text(out));
  for (std::string word; text >> word;) {
    if (word != "ready") workers.push_back(std::stoi(word));
  }
  REQUIRE(workers.size() == 3);
  for (int worker : workers) CHECK_FALSE(pid_gone(worker));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  for (int worker : workers) CHECK(eventually([&] { return pid_gone(worker); }, 5s));
}

TEST_CASE("fray call runs one Python call in an env, with positional and keyword JSON arguments, and prints its JSON result") {
  const fs::path cache = shared_cache();
  const auto ok = shell(fray_command(cache, fmt::format("call {} fray_probe.calls:add 2 40", probe_cli_options(2))));
  INFO(ok.err);
  CHECK(ok.status == 0);
  CHECK(trimmed(ok.out) == "42");
  const auto version = shell(fray_command(cache, fmt::format("call {} fray_probe.calls:version", probe_cli_options(2))));
  CHECK(trimmed(version.out) == "\"2.0\"");
  const auto echoed = shell(fray_command(
      cache, fmt::format("call {} fray_probe.calls:echo '[1, \"two\"]' '{{\"k\": null}}'", probe_cli_options(1))));
  CHECK(json::parse(echoed.out) == json::parse(R"({"args": [[1, "two"], {"k": null}], "kwargs": {}})"));
  const auto keywords = shell(fray_command(
      cache, fmt::format("call {} fray_probe.calls:echo 1 '\"a=b\"' n=2 s=text l='[3]'", probe_cli_options(1))));
  CHECK(json::parse(keywords.out) ==
        json::parse(R"({"args": [1, "a=b"], "kwargs": {"n": 2, "s": "text", "l": [3]}})"));
  const auto misplaced = shell(fray_command(cache, fmt::format("call {} fray_probe.calls:echo n=2 1", probe_cli_options(1))));
  CHECK(misplaced.status == 2);
  CHECK(misplaced.err.find("positional argument '1' follows a keyword argument") != std::string::npos);
  const auto failed = shell(fray_command(cache, fmt::format("call {} fray_probe.calls:fail oops", probe_cli_options(1))));
  CHECK(failed.status == 1);
  CHECK(failed.err.find("Traceback (most recent call last)") != std::string::npos);
  CHECK(failed.err.find("ValueError: oops") != std::string::npos);
  const auto printed = shell(fray_command(cache, fmt::format("call {} fray_probe.calls:shout hi", probe_cli_options(1))));
  CHECK(trimmed(printed.out) == "2");
  CHECK(printed.err.find("hi") != std::string::npos);
  const auto help = shell(fray_command(cache, "call --help"));
  CHECK(help.status == 0);
  CHECK(help.out.find("MODULE:FUNCTION") != std::string::npos);
  const auto usage = shell(fray_command(cache, "call"));
  CHECK(usage.status == 2);
}

TEST_CASE("the worker program is found in the build tree, or where FRAY_WORKER_SCRIPT says") {
  TempDir dir("fray-pyworker-");
  const auto command_line_of = [](WorkerPool& pool) {
    std::string text = read_text(fmt::format("/proc/{}/cmdline", pool.call<int>("fray_probe.calls:pid").get()));
    std::replace(text.begin(), text.end(), '\0', ' ');
    return text;
  };
  // Imported as a module (so its bytecode is cached) when its name allows.
  const fs::path copy = dir / "my_worker.py";
  fs::copy_file(fs::path(FRAY_SOURCE_DIR) / "pyworker" / "fray_worker.py", copy);
  ::setenv("FRAY_WORKER_SCRIPT", copy.c_str(), 1);
  {
    WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
    const std::string command = command_line_of(pool);
    CHECK(command.find("import my_worker") != std::string::npos);
    CHECK(command.find(dir.path().string()) != std::string::npos);
  }
  // Run as a script when it is no module name.
  const fs::path dashed = dir / "my-worker.py";
  fs::copy_file(copy, dashed);
  ::setenv("FRAY_WORKER_SCRIPT", dashed.c_str(), 1);
  {
    WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
    CHECK(command_line_of(pool).find("my-worker.py") != std::string::npos);
    CHECK(pool.call<int>("fray_probe.calls:add", 2, 3).get() == 5);
  }
  ::setenv("FRAY_WORKER_SCRIPT", (dir / "missing.py").c_str(), 1);
  CHECK_THROWS_AS(WorkerPool(probe_env(1)), fray::WorkerProgramNotFound);
  ::unsetenv("FRAY_WORKER_SCRIPT");
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1));
  CHECK(command_line_of(pool).find(FRAY_BUILD_DIR "/pyworker") != std::string::npos);
}

TEST_CASE("user code imports from the working directory, never from the worker's own") {
  TempDir dir("fray-pyworker-");
  WorkerPool pool(probe_env(1), WorkerPoolOptions{}.with_max_workers(1).with_cwd(dir.path()));
  const auto path = pool.call<std::vector<std::string>>("fray_probe.calls:sys_path").get();
  REQUIRE(!path.empty());
  CHECK(path.front() == dir.path().string());
  for (const auto& entry : path) CHECK_MESSAGE(entry.find("/pyworker") == std::string::npos, entry);
}

TEST_CASE("the README shows examples/python_workers.cpp as its Python workers example") {
  const std::string readme = read_text(FRAY_SOURCE_DIR "/README.md");
  const std::string example = read_text(FRAY_SOURCE_DIR "/examples/python_workers.cpp");
  CHECK_MESSAGE(readme.find("## Python workers") < readme.find("```cpp\n" + example + "```"),
                "README.md's Python workers section must show examples/python_workers.cpp verbatim in a ```cpp block");
}
