// Python workers: every outcome lands on the call that caused it. A crash, a
// timeout or a cancel hits the call that was running, never a call that had
// finished or had not started yet; an actor's constructor is not blamed for
// a call's crash, and a constructor that always crashes ends its actor.
// What really ran on the Python side is recorded in files (one line per
// run, appended with O_APPEND) and counted. Offline: the fray_probe 1.0
// wheel built at test time.
#include "test_support.hpp"
#include "venv_test_support.hpp"

#include <fray/python.hpp>

#include <fmt/format.h>

#include <signal.h>

#include <deque>
#include <map>
#include <ostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

using namespace fray_test;
using namespace std::chrono_literals;
using fray::PythonActorOptions;
using fray::PythonCallOptions;
using fray::WorkerPool;
using fray::WorkerPoolOptions;

namespace {

// Pipelines every call, as a pool did before routing by expected duration:
// these tests are about calls that are queued inside a worker.
WorkerPoolOptions pipelined(WorkerPoolOptions options = {}) {
  return options.with_pipeline_threshold(std::chrono::microseconds::max());
}

const fray::IsolatedVirtualEnv& probe_env() {
  static fray::IsolatedVirtualEnv env(probe_options(shared_cache(), 1));
  return env;
}

// Options of a pool or an actor whose workers' output is dropped (crashes
// and kills are on purpose here).
template <class Options>
Options quiet(Options options) {
  options.with_log_sink([](const fray::WorkerLogLine&) {});
  return options;
}

// --- What a call ended with ---------------------------------------------

struct Outcome {
  std::string kind;  // "value", or the error's type: "WorkerCrashed", "TaskCancelled", ...
  std::string text;  // the value as text, or the error's message
  friend bool operator==(const Outcome&, const Outcome&) = default;
  bool mentions(const std::string& words) const { return text.find(words) != std::string::npos; }
};

std::ostream& operator<<(std::ostream& out, const Outcome& outcome) {
  return out << outcome.kind << " (" << outcome.text << ")";
}

Outcome answered(std::string text) { return Outcome{"value", std::move(text)}; }

Outcome outcome_of_error(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const fray::WorkerCrashed& e) {
    return {"WorkerCrashed", e.what()};
  } catch (const fray::PythonCallQueueTimeout& e) {
    return {"PythonCallQueueTimeout", e.what()};
  } catch (const fray::PythonCallTimeout& e) {
    return {"PythonCallTimeout", e.what()};
  } catch (const fray::ActorDied& e) {
    return {"ActorDied", e.what()};
  } catch (const fray::TaskCancelled& e) {
    return {"TaskCancelled", e.what()};
  } catch (const fray::PythonError& e) {
    return {"PythonError", e.type() + ": " + e.message()};
  } catch (const fray::UnsupportedJson& e) {
    return {"UnsupportedJson", e.what()};
  } catch (const std::exception& e) {
    return {"Error", e.what()};
  } catch (...) {
    return {"unknown", ""};
  }
}

// Waits for the call and says how it ended (the future keeps its result).
template <class T>
Outcome outcome_of(const fray::Future<T>& future) {
  try {
    if constexpr (std::is_void_v<T>) {
      future.get();
      return answered("");
    } else if constexpr (std::is_same_v<T, std::string>) {
      return answered(future.get());
    } else {
      return answered(fmt::format("{}", future.get()));
    }
  } catch (...) {
    return outcome_of_error(std::current_exception());
  }
}

// --- What ran on the Python side ------------------------------------------

// One line of a mark file: calls.py's mark(path, tag) appends "tag pid".
struct Run {
  std::string tag;
  int pid = 0;
};

std::vector<Run> runs_in(const fs::path& file) {
  std::vector<Run> runs;
  std::istringstream in(read_text(file));  // "" when there is no such file
  for (Run run; in >> run.tag >> run.pid;) runs.push_back(run);
  return runs;
}

// How many times the call marking `tag` ran.
int runs_of(const fs::path& file, const std::string& tag) {
  const auto runs = runs_in(file);
  return int(std::count_if(runs.begin(), runs.end(), [&](const Run& run) { return run.tag == tag; }));
}

// The processes it ran in, one per run.
std::vector<int> pids_of(const fs::path& file, const std::string& tag) {
  std::vector<int> pids;
  for (const Run& run : runs_in(file)) {
    if (run.tag == tag) pids.push_back(run.pid);
  }
  return pids;
}

// Polls the file until `tag` ran (false past the deadline).
bool wait_for_run(const fs::path& file, const std::string& tag, std::chrono::milliseconds limit = 30s) {
  return eventually([&] { return runs_of(file, tag) > 0; }, limit);
}

// A file of one number per line (calls.py's stress_step): how many times
// each number appears.
std::map<int, int> count_numbers(const fs::path& file) {
  std::map<int, int> counts;
  std::istringstream in(read_text(file));
  for (int n = 0; in >> n;) ++counts[n];
  return counts;
}

}  // namespace

// --- 1. A crash is the crashing call's -------------------------------------

TEST_CASE("a worker's crash fails only the call that crashed it: the calls it answered keep their results, and the call behind it runs once on a new worker") {
  Watchdog watchdog("crash attribution in a pipelined worker", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  WorkerPool pool(probe_env(), quiet(pipelined(WorkerPoolOptions{}.with_max_workers(1))));
  // Made at once: all four are queued in the one worker.
  auto slept = pool.call<double>("fray_probe.calls:sleep", 0.3);
  auto a = pool.call<std::string>("fray_probe.calls:mark", runs.string(), "a");
  auto c = pool.call<std::string>("fray_probe.calls:mark_then_crash", runs.string(), "c");
  auto b = pool.call<std::string>("fray_probe.calls:mark", runs.string(), "b");
  CHECK(outcome_of(slept) == answered("0.3"));
  CHECK(outcome_of(a) == answered("a"));
  const Outcome crashed = outcome_of(c);
  CHECK_MESSAGE(crashed.kind == "WorkerCrashed", crashed);
  CHECK(outcome_of(b) == answered("b"));
  CHECK(runs_of(runs, "a") == 1);
  CHECK(runs_of(runs, "c") == 1);
  CHECK(runs_of(runs, "b") == 1);
  const auto a_pids = pids_of(runs, "a"), c_pids = pids_of(runs, "c"), b_pids = pids_of(runs, "b");
  if (a_pids.size() == 1 && c_pids.size() == 1 && b_pids.size() == 1) {
    CHECK(c_pids[0] == a_pids[0]);  // c crashed the worker a ran in
    CHECK(b_pids[0] != a_pids[0]);  // b ran on its replacement
  }
}

TEST_CASE("with max_retries(1) on every call, only the crashing call runs again: it runs twice and fails, the calls around it run once") {
  Watchdog watchdog("crash attribution with retries", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  WorkerPool pool(probe_env(), quiet(pipelined(WorkerPoolOptions{}.with_max_workers(1))));
  const auto retry_once = PythonCallOptions{}.with_max_retries(1);
  auto slept = pool.call<double>(retry_once, "fray_probe.calls:sleep", 0.3);
  auto a = pool.call<std::string>(retry_once, "fray_probe.calls:mark", runs.string(), "a");
  auto c = pool.call<std::string>(retry_once, "fray_probe.calls:mark_then_crash", runs.string(), "c");
  auto b = pool.call<std::string>(retry_once, "fray_probe.calls:mark", runs.string(), "b");
  CHECK(outcome_of(slept) == answered("0.3"));
  CHECK(outcome_of(a) == answered("a"));
  const Outcome crashed = outcome_of(c);
  CHECK_MESSAGE(crashed.kind == "WorkerCrashed", crashed);
  CHECK(outcome_of(b) == answered("b"));
  CHECK(runs_of(runs, "a") == 1);
  CHECK(runs_of(runs, "c") == 2);
  CHECK(runs_of(runs, "b") == 1);
}

// --- 2. An actor's constructor is not blamed for a call's crash ------------

TEST_CASE("a Python actor whose first call crashes its process is restarted once: the call fails with WorkerCrashed, not its constructor") {
  Watchdog watchdog("an actor's call crashing at once", 60s);
  TempDir dir("fray-attribution-");
  const fs::path constructions = dir / "constructions";
  auto actor = fray::create_python_actor(probe_env(), quiet(PythonActorOptions{}.with_max_restarts(-1)),
                                         "fray_probe.calls:Recorder", constructions.string());
  auto crash = actor.call<int>("crash");  // at once: no ready() wait
  // Blamed on the constructor, the crash would restart the actor for ever:
  // stop waiting once it restarted more often than it should.
  eventually([&] { return crash.ready() || actor.restarts() > 5; }, 50s);
  INFO("restarts: ", actor.restarts(), ", constructor runs: ", runs_of(constructions, "init"));
  REQUIRE_MESSAGE(crash.ready(), "the crashing call was never answered");
  const Outcome crashed = outcome_of(crash);
  CHECK_MESSAGE(crashed.kind == "WorkerCrashed", crashed);
  CHECK(outcome_of(actor.call<int>("add", 2)) == answered("2"));  // a new instance, started at 0
  CHECK(actor.restarts() == 1);
  CHECK(runs_of(constructions, "init") == 2);
}

TEST_CASE("calls made at once on a new Python actor run once each; only the one that crashes its process fails") {
  Watchdog watchdog("calls on a new actor, one crashing", 60s);
  TempDir dir("fray-attribution-");
  const fs::path constructions = dir / "constructions", runs = dir / "runs";
  auto actor = fray::create_python_actor(probe_env(), quiet(PythonActorOptions{}.with_max_restarts(5)),
                                         "fray_probe.calls:Recorder", constructions.string());
  auto x = actor.call<std::string>("record", runs.string(), "x");
  auto y = actor.call<std::string>("record", runs.string(), "y");
  auto crash = actor.call<int>("crash");
  CHECK(outcome_of(x) == answered("x"));
  CHECK(outcome_of(y) == answered("y"));
  const Outcome crashed = outcome_of(crash);
  CHECK_MESSAGE(crashed.kind == "WorkerCrashed", crashed);
  CHECK(runs_of(runs, "x") == 1);
  CHECK(runs_of(runs, "y") == 1);
  CHECK(outcome_of(actor.call<std::string>("record", runs.string(), "z")) == answered("z"));
  CHECK(actor.restarts() == 1);
  CHECK(runs_of(constructions, "init") == 2);
}

TEST_CASE("when a Python actor's process dies, the call that ran fails, the call before it keeps its result, and the call behind it runs once on the restarted actor") {
  Watchdog watchdog("an actor's in-flight calls at a crash", 60s);
  TempDir dir("fray-attribution-");
  const fs::path constructions = dir / "constructions", runs = dir / "runs";
  auto options = quiet(PythonActorOptions{}.with_max_restarts(1).with_max_task_retries(0));
  auto actor = fray::create_python_actor(probe_env(), options, "fray_probe.calls:Recorder", constructions.string());
  REQUIRE(outcome_of(actor.ready()) == answered(""));  // this is about calls, not the constructor
  // x, c and z wait in the process while it sleeps.
  auto slept = actor.call<double>("sleep", 0.3);
  auto x = actor.call<std::string>("record", runs.string(), "x");
  auto c = actor.call<std::string>("record_then_crash", runs.string(), "c");
  auto z = actor.call<std::string>("record", runs.string(), "z");
  CHECK(outcome_of(slept) == answered("0.3"));
  CHECK(outcome_of(x) == answered("x"));
  const Outcome crashed = outcome_of(c);
  CHECK_MESSAGE(crashed.kind == "WorkerCrashed", crashed);
  CHECK(outcome_of(z) == answered("z"));
  CHECK(runs_of(runs, "x") == 1);
  CHECK(runs_of(runs, "c") == 1);
  CHECK(runs_of(runs, "z") == 1);
  const auto x_pids = pids_of(runs, "x"), z_pids = pids_of(runs, "z");
  if (x_pids.size() == 1 && z_pids.size() == 1) CHECK(z_pids[0] != x_pids[0]);  // on the restarted actor
  CHECK(actor.restarts() == 1);
  CHECK(runs_of(constructions, "init") == 2);
}

TEST_CASE("with max_task_retries(1), a Python actor's call that crashed its process once succeeds on the restarted actor, and the call before it ran once") {
  Watchdog watchdog("an actor's call retried after a crash", 60s);
  TempDir dir("fray-attribution-");
  const fs::path constructions = dir / "constructions", runs = dir / "runs";
  auto options = quiet(PythonActorOptions{}.with_max_restarts(1).with_max_task_retries(1));
  auto actor = fray::create_python_actor(probe_env(), options, "fray_probe.calls:Recorder", constructions.string());
  REQUIRE(outcome_of(actor.ready()) == answered(""));
  auto slept = actor.call<double>("sleep", 0.3);
  auto x = actor.call<std::string>("record", runs.string(), "x");
  auto retried = actor.call<std::string>("crash_once", (dir / "crashed").string());
  auto z = actor.call<std::string>("record", runs.string(), "z");
  CHECK(outcome_of(slept) == answered("0.3"));
  CHECK(outcome_of(x) == answered("x"));
  CHECK(outcome_of(retried) == answered("second try"));
  CHECK(outcome_of(z) == answered("z"));
  CHECK(runs_of(runs, "x") == 1);
  CHECK(runs_of(runs, "z") == 1);
  CHECK(actor.restarts() == 1);
  CHECK(runs_of(constructions, "init") == 2);
}

// --- 3. A constructor that always crashes ends its actor -------------------

TEST_CASE("a Python actor whose constructor crashes its process three times in a row is dead, even with unlimited restarts") {
  Watchdog watchdog("a constructor crash loop", 60s);
  TempDir dir("fray-attribution-");
  const fs::path constructions = dir / "constructions";
  auto actor = fray::create_python_actor(probe_env(), quiet(PythonActorOptions{}.with_max_restarts(-1)),
                                         "fray_probe.calls:CrashingConstructor", constructions.string());
  auto ready = actor.ready();
  auto call = actor.call<int>("get");
  // Stop waiting once the constructor ran far more often than it may.
  eventually([&] { return (ready.ready() && call.ready()) || runs_of(constructions, "init") > 10; }, 50s);
  INFO("constructor runs: ", runs_of(constructions, "init"), ", restarts: ", actor.restarts());
  REQUIRE_MESSAGE(ready.ready(), "ready() never completed");
  const Outcome not_ready = outcome_of(ready);
  CHECK_MESSAGE(not_ready.kind == "ActorDied", not_ready);
  CHECK_MESSAGE(not_ready.mentions("constructor"), not_ready);
  REQUIRE_MESSAGE(call.ready(), "the call was never answered: the actor restarts for ever");
  const Outcome died = outcome_of(call);
  CHECK_MESSAGE(died.kind == "ActorDied", died);
  CHECK_MESSAGE(died.mentions("constructor"), died);
  CHECK(runs_of(constructions, "init") == 3);
  CHECK_FALSE(actor.alive());
  const Outcome later = outcome_of(actor.call<int>("get"));
  CHECK_MESSAGE(later.kind == "ActorDied", later);
}

// --- 4. A timeout is its own call's ---------------------------------------

TEST_CASE("a quick call's timeout does not fire while the call queued behind it in the same worker runs") {
  Watchdog watchdog("a timeout of a quick pipelined call", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  WorkerPool pool(probe_env(), quiet(pipelined(WorkerPoolOptions{}.with_max_workers(1))));
  auto quick = pool.call<int>(PythonCallOptions{}.with_timeout(200ms), "fray_probe.calls:add", 1, 2);
  auto slow = pool.call<double>("fray_probe.calls:mark_then_sleep", runs.string(), "slow", 1.0);
  CHECK(outcome_of(quick) == answered("3"));
  CHECK(outcome_of(slow) == answered("1"));
  CHECK(runs_of(runs, "slow") == 1);
}

TEST_CASE("a slow call's timeout fires while it runs behind a quick call in the same worker, and fails only the slow call") {
  Watchdog watchdog("a timeout of a pipelined slow call", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  WorkerPool pool(probe_env(), quiet(pipelined(WorkerPoolOptions{}.with_max_workers(1))));
  auto quick = pool.call<int>("fray_probe.calls:add", 1, 2);
  auto slow = pool.call<double>(PythonCallOptions{}.with_timeout(200ms), "fray_probe.calls:mark_then_sleep",
                                runs.string(), "slow", 1.0);
  CHECK(outcome_of(quick) == answered("3"));
  const Outcome timed_out = outcome_of(slow);
  CHECK_MESSAGE(timed_out.kind == "PythonCallTimeout", timed_out);
  CHECK(runs_of(runs, "slow") == 1);
  CHECK(outcome_of(pool.call<int>("fray_probe.calls:add", 2, 2)) == answered("4"));
}

TEST_CASE("a Python actor's slow call times out behind a quick one: the quick call keeps its result, the slow one fails once with PythonCallTimeout") {
  Watchdog watchdog("a timeout of an actor's queued call", 60s);
  TempDir dir("fray-attribution-");
  const fs::path constructions = dir / "constructions", runs = dir / "runs";
  auto actor = fray::create_python_actor(probe_env(), quiet(PythonActorOptions{}.with_max_restarts(1)),
                                         "fray_probe.calls:Recorder", constructions.string());
  auto quick = actor.call<std::string>("record", runs.string(), "quick");
  auto slow = actor.call<double>(PythonCallOptions{}.with_timeout(200ms), "record_then_sleep", runs.string(), "slow", 1.0);
  CHECK(outcome_of(quick) == answered("quick"));
  const Outcome timed_out = outcome_of(slow);
  CHECK_MESSAGE(timed_out.kind == "PythonCallTimeout", timed_out);
  CHECK(runs_of(runs, "quick") == 1);
  CHECK(runs_of(runs, "slow") == 1);
  // The timeout killed the process: the actor restarted.
  CHECK(outcome_of(actor.call<int>("add", 1)) == answered("1"));
  CHECK(actor.restarts() == 1);
}

// --- 4b. A queue timeout: the longest a call may wait to start ------------

TEST_CASE("a call that waits in the pool past its queue_timeout fails with PythonCallQueueTimeout and never runs") {
  Watchdog watchdog("a queue timeout in the pool", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  // One worker, and a first call of a function not known to be short: the
  // second call waits in the pool, not in the worker.
  WorkerPool pool(probe_env(), quiet(WorkerPoolOptions{}.with_max_workers(1)));
  auto slow = pool.call<double>("fray_probe.calls:mark_then_sleep", runs.string(), "slow", 1.0);
  auto late = pool.call<std::string>(PythonCallOptions{}.with_queue_timeout(200ms), "fray_probe.calls:mark",
                                     runs.string(), "late");
  const Outcome expired = outcome_of(late);
  CHECK_MESSAGE(expired.kind == "PythonCallQueueTimeout", expired);
  CHECK_MESSAGE(expired.mentions("did not start within 200 ms"), expired);
  CHECK(outcome_of(slow) == answered("1"));
  // One more call through the same worker: anything `late` did would be done.
  CHECK(outcome_of(pool.call<std::string>("fray_probe.calls:mark", runs.string(), "after")) == answered("after"));
  CHECK(runs_of(runs, "late") == 0);
  CHECK(runs_of(runs, "slow") == 1);
}

TEST_CASE("a call queued in a busy worker past its queue_timeout fails with PythonCallQueueTimeout, never runs, and the worker lives on") {
  Watchdog watchdog("a queue timeout inside a worker", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  WorkerPool pool(probe_env(), quiet(pipelined(WorkerPoolOptions{}.with_max_workers(1))));
  auto slow = pool.call<double>("fray_probe.calls:mark_then_sleep", runs.string(), "slow", 1.0);
  auto late = pool.call<std::string>(PythonCallOptions{}.with_queue_timeout(200ms), "fray_probe.calls:mark",
                                     runs.string(), "late");
  auto behind = pool.call<std::string>("fray_probe.calls:mark", runs.string(), "behind");
  const Outcome expired = outcome_of(late);
  CHECK_MESSAGE(expired.kind == "PythonCallQueueTimeout", expired);
  CHECK(outcome_of(slow) == answered("1"));
  CHECK(outcome_of(behind) == answered("behind"));
  CHECK(runs_of(runs, "late") == 0);
  // The slow call was not interrupted, and its worker ran the call behind.
  CHECK(pids_of(runs, "behind") == pids_of(runs, "slow"));
}

TEST_CASE("a Python actor's call that waits behind a slow call past its queue_timeout fails with PythonCallQueueTimeout and never changes the actor") {
  Watchdog watchdog("a queue timeout of an actor's call", 60s);
  TempDir dir("fray-attribution-");
  const fs::path constructions = dir / "constructions";
  auto actor = fray::create_python_actor(probe_env(), quiet(PythonActorOptions{}), "fray_probe.calls:Recorder",
                                         constructions.string());
  REQUIRE(outcome_of(actor.ready()) == answered(""));
  auto slept = actor.call<double>("sleep", 1.0);
  auto added = actor.call<int>(PythonCallOptions{}.with_queue_timeout(200ms), "add", 5);
  const Outcome expired = outcome_of(added);
  CHECK_MESSAGE(expired.kind == "PythonCallQueueTimeout", expired);
  CHECK(outcome_of(slept) == answered("1"));
  CHECK(outcome_of(actor.call<int>("get")) == answered("0"));
  CHECK(actor.restarts() == 0);
}

TEST_CASE("a call that starts within its queue_timeout may run longer than it: the queue timeout ends where the call starts") {
  Watchdog watchdog("a queue timeout of a call that started", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  WorkerPool pool(probe_env(), quiet(WorkerPoolOptions{}.with_max_workers(1)));
  REQUIRE(outcome_of(pool.call<int>("fray_probe.calls:add", 1, 2)) == answered("3"));  // a warm, idle worker
  auto long_call = pool.call<double>(PythonCallOptions{}.with_queue_timeout(300ms),
                                     "fray_probe.calls:mark_then_sleep", runs.string(), "long", 0.8);
  CHECK(outcome_of(long_call) == answered("0.8"));
  CHECK(runs_of(runs, "long") == 1);
}

TEST_CASE("a pool's call_queue_timeout applies to each of its calls, and a call's own queue_timeout wins") {
  Watchdog watchdog("a pool's queue timeout", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  WorkerPool pool(probe_env(), quiet(WorkerPoolOptions{}.with_max_workers(1).with_call_queue_timeout(200ms)));
  auto slow = pool.call<double>("fray_probe.calls:mark_then_sleep", runs.string(), "slow", 1.0);
  auto by_default = pool.call<std::string>("fray_probe.calls:mark", runs.string(), "default");
  auto patient = pool.call<std::string>(PythonCallOptions{}.with_queue_timeout(30s), "fray_probe.calls:mark",
                                        runs.string(), "patient");
  const Outcome expired = outcome_of(by_default);
  CHECK_MESSAGE(expired.kind == "PythonCallQueueTimeout", expired);
  CHECK(outcome_of(slow) == answered("1"));
  CHECK(outcome_of(patient) == answered("patient"));
  CHECK(runs_of(runs, "default") == 0);
  CHECK(runs_of(runs, "patient") == 1);
}

// --- 5. Cancelling a finished call does nothing ----------------------------

TEST_CASE("cancel() of a call that already ran does nothing: it keeps its result, and the call running after it is not interrupted") {
  Watchdog watchdog("a late cancel", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs", interrupted = dir / "interrupted";
  WorkerPool pool(probe_env(), quiet(pipelined(WorkerPoolOptions{}.with_max_workers(1))));
  auto a = pool.call<std::string>("fray_probe.calls:mark", runs.string(), "a");
  auto slow = pool.call<double>("fray_probe.calls:sleep_noting_interrupt", 2.0, interrupted.string());
  REQUIRE(wait_for_run(runs, "a"));
  // Let a's answer arrive: the slow call has well over a second to go (a
  // margin, not a timing assertion).
  std::this_thread::sleep_for(300ms);
  a.cancel();
  CHECK(outcome_of(a) == answered("a"));
  CHECK(outcome_of(slow) == answered("2"));
  CHECK_FALSE(fs::exists(interrupted));  // written only on KeyboardInterrupt
}

// --- 6. Cancelling a queued call means it never runs -----------------------

TEST_CASE("a call cancelled while it is queued in a busy worker fails with TaskCancelled and never runs") {
  Watchdog watchdog("a cancel of a queued call", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  WorkerPool pool(probe_env(), quiet(pipelined(WorkerPoolOptions{}.with_max_workers(1))));
  auto slept = pool.call<double>("fray_probe.calls:sleep", 0.5);
  auto x = pool.call<std::string>("fray_probe.calls:mark", runs.string(), "x");
  x.cancel();
  const Outcome cancelled = outcome_of(x);
  CHECK_MESSAGE(cancelled.kind == "TaskCancelled", cancelled);
  CHECK(outcome_of(slept) == answered("0.5"));
  // One more call through the same worker: anything x did would be done.
  CHECK(outcome_of(pool.call<std::string>("fray_probe.calls:mark", runs.string(), "after")) == answered("after"));
  CHECK(runs_of(runs, "after") == 1);
  CHECK(runs_of(runs, "x") == 0);
}

TEST_CASE("a Python actor's call cancelled while it waits behind a slow call fails with TaskCancelled and never changes the actor") {
  Watchdog watchdog("a cancel of an actor's queued call", 60s);
  TempDir dir("fray-attribution-");
  const fs::path constructions = dir / "constructions";
  auto actor = fray::create_python_actor(probe_env(), quiet(PythonActorOptions{}), "fray_probe.calls:Recorder",
                                         constructions.string());
  REQUIRE(outcome_of(actor.ready()) == answered(""));
  auto slept = actor.call<double>("sleep", 0.5);
  auto added = actor.call<int>("add", 5);
  added.cancel();
  const Outcome cancelled = outcome_of(added);
  CHECK_MESSAGE(cancelled.kind == "TaskCancelled", cancelled);
  CHECK(outcome_of(slept) == answered("0.5"));
  CHECK(outcome_of(actor.call<int>("get")) == answered("0"));
}

// --- 7. A call sent to a worker that just died ----------------------------

TEST_CASE("a call made just after its worker was killed runs on the replacement worker and succeeds, without retries") {
  Watchdog watchdog("calls to freshly killed workers", 60s);
  WorkerPool pool(probe_env(), quiet(WorkerPoolOptions{}.with_min_workers(1).with_max_workers(1)));
  std::vector<std::string> failures;
  for (int round = 0; round < 20; ++round) {
    const Outcome warm = outcome_of(pool.call<int>("fray_probe.calls:pid"));
    REQUIRE_MESSAGE(warm.kind == "value", warm);
    const int killed = std::stoi(warm.text);
    REQUIRE(::kill(killed, SIGKILL) == 0);
    // At once: the pool has not seen the worker die yet.
    const Outcome after = outcome_of(pool.call<int>(PythonCallOptions{}.with_max_retries(0), "fray_probe.calls:pid"));
    if (after.kind != "value") {
      failures.push_back(fmt::format("round {}: {} ({})", round, after.kind, after.text));
    } else if (after.text == warm.text) {
      failures.push_back(fmt::format("round {}: answered by the killed worker {}", round, killed));
    }
  }
  INFO("first failure: ", failures.empty() ? std::string("none") : failures.front());
  CHECK(failures.size() == 0);
}

// --- 8. No head-of-line blocking ------------------------------------------

TEST_CASE("quick calls do not wait behind a slow call while another worker of the pool is free") {
  Watchdog watchdog("head-of-line blocking", 60s);
  WorkerPool pool(probe_env(), quiet(WorkerPoolOptions{}.with_min_workers(2).with_max_workers(2)));
  // Warm both workers.
  std::set<int> warm;
  for (int round = 0; round < 20 && warm.size() < 2; ++round) {
    std::vector<fray::Future<int>> pids;
    for (int i = 0; i < 4; ++i) pids.push_back(pool.call<int>("fray_probe.calls:pid"));
    for (auto& pid : pids) warm.insert(pid.get());
  }
  REQUIRE(warm.size() == 2);
  auto sleeper = pool.call<int>("fray_probe.calls:sleep_then_pid", 3.0);
  std::vector<fray::Future<int>> quick;
  for (int i = 0; i < 7; ++i) quick.push_back(pool.call<int>("fray_probe.calls:pid"));
  std::vector<Outcome> quick_outcomes;
  for (auto& call : quick) quick_outcomes.push_back(outcome_of(call));
  // Seven calls to a warm worker against a 3 s sleep: a generous margin.
  CHECK_FALSE(sleeper.ready());
  const Outcome slept = outcome_of(sleeper);
  REQUIRE_MESSAGE(slept.kind == "value", slept);
  for (const Outcome& outcome : quick_outcomes) {
    CHECK_MESSAGE(outcome.kind == "value", outcome);
    CHECK(outcome.text != slept.text);  // not run by the sleeping worker
  }
}

// --- 9. Everything at once -------------------------------------------------

TEST_CASE("under a random mix of quick, slow, crashing, timing-out, impatient and cancelled calls, each call runs as often as its outcome says") {
  Watchdog watchdog("the attribution stress test", 180s);
  constexpr unsigned kSeed = 20240612;
  constexpr int kCalls = 2000;
  constexpr std::size_t kWindow = 16;  // calls outstanding at a time
  MESSAGE("seed ", kSeed);
  INFO("seed ", kSeed);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  WorkerPool pool(probe_env(), quiet(WorkerPoolOptions{}.with_max_workers(2)));

  enum class Kind { instant, slow, crash, timeout, cancelled, impatient };
  struct Call {
    Kind kind = Kind::instant;
    double seconds = 0;
    fray::Future<int> future;
    Outcome outcome;
  };
  std::mt19937 random(kSeed);
  auto percent = [&] { return std::uniform_int_distribution<int>(0, 99)(random); };
  auto millis = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(random); };
  std::vector<Call> calls(kCalls);
  std::vector<std::pair<std::chrono::steady_clock::time_point, int>> cancels_due;  // cancel() a few ms after the submit
  std::deque<int> outstanding;

  auto fire_due_cancels = [&] {
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(cancels_due, [&](const auto& due) {
      if (due.first > now) return false;
      calls[due.second].future.cancel();
      return true;
    });
  };
  auto settle_oldest = [&] {
    Call& call = calls[outstanding.front()];
    while (!call.future.ready()) {
      fire_due_cancels();
      std::this_thread::sleep_for(1ms);
    }
    call.outcome = outcome_of(call.future);
    outstanding.pop_front();
  };

  for (int id = 0; id < kCalls; ++id) {
    fire_due_cancels();
    while (outstanding.size() >= kWindow) settle_oldest();
    Call& call = calls[id];
    const int roll = percent();
    PythonCallOptions options;
    bool crash = false;
    if (roll < 3) {
      call.kind = Kind::crash;
      crash = true;
      options.with_max_retries(0);
    } else if (roll < 6) {
      call.kind = Kind::timeout;
      call.seconds = 2.0;
      options.with_timeout(50ms);
    } else if (roll < 16) {
      call.kind = Kind::cancelled;
      call.seconds = percent() < 50 ? 0.0 : millis(5, 20) / 1000.0;
    } else if (roll < 31) {
      call.kind = Kind::slow;
      call.seconds = millis(1, 20) / 1000.0;
    } else if (roll < 36) {
      // It may wait a few milliseconds to start, then runs for a few.
      call.kind = Kind::impatient;
      call.seconds = millis(0, 5) / 1000.0;
      options.with_queue_timeout(std::chrono::milliseconds(millis(1, 10)));
    }
    call.future = pool.call<int>(options, "fray_probe.calls:stress_step", runs.string(), id, call.seconds, crash);
    if (call.kind == Kind::cancelled) {
      if (percent() < 50) {
        call.future.cancel();
      } else {
        cancels_due.emplace_back(std::chrono::steady_clock::now() + std::chrono::milliseconds(millis(1, 8)), id);
      }
    }
    outstanding.push_back(id);
  }
  while (!outstanding.empty()) settle_oldest();

  const std::map<int, int> ran = count_numbers(runs);
  auto runs_of_call = [&](int id) {
    auto it = ran.find(id);
    return it == ran.end() ? 0 : it->second;
  };
  std::vector<std::string> wrong;
  int answers = 0, crashes = 0, timeouts = 0, cancelled_before_start = 0, cancelled_while_running = 0,
      finished_before_cancel = 0, started_in_time = 0, never_started = 0;
  const char* kind_names[] = {"instant", "slow", "crash", "timeout", "cancelled", "impatient"};
  for (int id = 0; id < kCalls; ++id) {
    const Call& call = calls[id];
    const int n = runs_of_call(id);
    const Outcome& outcome = call.outcome;
    bool right = false;
    switch (call.kind) {
      case Kind::instant:
      case Kind::slow:
        right = outcome == answered(std::to_string(id)) && n == 1;
        answers += right;
        break;
      case Kind::crash:
        right = outcome.kind == "WorkerCrashed" && n == 1;
        crashes += right;
        break;
      case Kind::timeout:
        // Once at most: the call started (its timeout runs from then), but
        // on a loaded machine the kill 50 ms later can land before the
        // function's first line has written its mark.
        right = outcome.kind == "PythonCallTimeout" && n <= 1;
        timeouts += right;
        break;
      case Kind::cancelled:
        if (outcome == answered(std::to_string(id))) {
          right = n == 1;
          finished_before_cancel += right;
        } else if (outcome.kind == "TaskCancelled") {
          right = n <= 1 && (n == 0 || !outcome.mentions("before it started"));
          (n == 0 ? cancelled_before_start : cancelled_while_running) += right;
        }
        break;
      case Kind::impatient:
        if (outcome == answered(std::to_string(id))) {
          right = n == 1;
          started_in_time += right;
        } else {
          right = outcome.kind == "PythonCallQueueTimeout" && n == 0;
          never_started += right;
        }
        break;
    }
    if (!right) {
      wrong.push_back(fmt::format("call {} ({}, {} s) ran {} time(s) and ended with {}: {}", id,
                                  kind_names[int(call.kind)], call.seconds, n, outcome.kind, outcome.text));
    }
  }
  MESSAGE(fmt::format("seed {}: {} calls: {} answered, {} crashed, {} timed out, {} cancelled before starting, {} "
                      "cancelled while running, {} finished before their cancel, {} started within their queue "
                      "timeout, {} never started, {} wrong",
                      kSeed, kCalls, answers, crashes, timeouts, cancelled_before_start, cancelled_while_running,
                      finished_before_cancel, started_in_time, never_started, wrong.size()));
  std::string shown;
  for (std::size_t i = 0; i < std::min<std::size_t>(wrong.size(), 15); ++i) shown += "\n  " + wrong[i];
  CHECK_MESSAGE(wrong.empty(), wrong.size(), " calls ran or ended wrongly; the first ones:", shown);
}

// --- 10. Under pressure: signals, closed inputs, odd requests --------------

TEST_CASE("hundreds of cancels close together, each with its SIGINT, drop exactly the queued calls cancelled and interrupt the running call once it is cancelled") {
  Watchdog watchdog("many cancels behind a running call", 120s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs", interrupted = dir / "interrupted";
  WorkerPool pool(probe_env(), quiet(pipelined(WorkerPoolOptions{}.with_max_workers(1).with_pipeline_depth(1000))));
  auto slow = pool.call<double>("fray_probe.calls:sleep_noting_interrupt", 20.0, interrupted.string());
  std::vector<fray::Future<std::string>> queued;
  for (int i = 0; i < 1000; ++i) queued.push_back(pool.call<std::string>("fray_probe.calls:mark", runs.string(), std::to_string(i)));
  std::this_thread::sleep_for(200ms);  // the slow call runs, the others wait in the worker
  for (int i = 0; i < 1000; i += 2) {
    queued[i].cancel();
    if (i == 500) slow.cancel();  // amid the storm: its KeyboardInterrupt must not be lost
    std::this_thread::sleep_for(50us);  // signals close together: handlers nest
  }
  CHECK(outcome_of(slow).kind == "TaskCancelled");
  CHECK_MESSAGE(fs::exists(interrupted), "the running call was not interrupted (killed after the grace period instead)");
  int wrong = 0;
  for (int i = 0; i < 1000; ++i) {
    const Outcome outcome = outcome_of(queued[i]);
    const int ran = runs_of(runs, std::to_string(i));
    const bool dropped = outcome.kind == "TaskCancelled" && ran == 0;
    const bool answered_once = outcome == answered(std::to_string(i)) && ran == 1;
    const bool interrupted_once = outcome.kind == "TaskCancelled" && ran == 1;
    // Cancelled while the slow call held the worker: dropped. Cancelled
    // after it was interrupted: the worker may have run it first (a cancel
    // of a finished call does nothing) or be running it (its SIGINT
    // interrupts it after its mark was written), but never twice.
    const bool right = i % 2 == 1 ? answered_once : i < 500 ? dropped : dropped || answered_once || interrupted_once;
    if (!right && ++wrong <= 5) MESSAGE("call ", i, " ran ", ran, " time(s) and ended with ", outcome);
  }
  CHECK(wrong == 0);
}

TEST_CASE("a cancel reaches a worker whose input is closed (its last call under max_calls): the queued call never runs") {
  Watchdog watchdog("cancel on a retiring worker", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  WorkerPool pool(probe_env(), quiet(pipelined(WorkerPoolOptions{}.with_max_workers(1).with_max_calls(2))));
  auto slow = pool.call<double>("fray_probe.calls:sleep", 0.5);
  auto x = pool.call<std::string>("fray_probe.calls:mark", runs.string(), "x");  // its second: input closes
  std::this_thread::sleep_for(100ms);
  x.cancel();
  CHECK(slow.get() == 0.5);
  CHECK(outcome_of(x).kind == "TaskCancelled");
  CHECK(outcome_of(pool.call<std::string>("fray_probe.calls:mark", runs.string(), "after")) == answered("after"));
  CHECK(runs_of(runs, "x") == 0);
}

TEST_CASE("an 8 MiB request to a worker on its last call (max_calls 1) arrives whole") {
  Watchdog watchdog("a big request as a worker's last", 60s);
  WorkerPool pool(probe_env(), quiet(WorkerPoolOptions{}.with_max_workers(1).with_max_calls(1)));
  const std::string big(8 << 20, 'x');
  for (int i = 0; i < 3; ++i) CHECK(pool.call<std::size_t>("fray_probe.calls:length", big).get() == big.size());
}

TEST_CASE("answers that finished are delivered while the call after them, expected to be short, runs long") {
  Watchdog watchdog("answers held behind a long call", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  WorkerPool pool(probe_env(), quiet(WorkerPoolOptions{}.with_max_workers(1)));
  // Both functions are known to be short...
  for (int i = 0; i < 5; ++i) {
    pool.call<std::string>("fray_probe.calls:mark", runs.string(), "warm").get();
    pool.call<double>("fray_probe.calls:sleep", 0.0).get();
  }
  // ...so these are sent together (the first one gives the others time to
  // arrive in one read), and the last turns out long.
  auto first = pool.call<double>("fray_probe.calls:sleep", 0.05);
  auto a = pool.call<std::string>("fray_probe.calls:mark", runs.string(), "a");
  auto slow = pool.call<double>("fray_probe.calls:sleep", 3.0);
  CHECK(first.get() == 0.05);
  CHECK(outcome_of(a) == answered("a"));
  CHECK_FALSE(slow.ready());
  CHECK(slow.get() == 3.0);
}

TEST_CASE("calls queued behind a call that turns out long move to the worker that frees up") {
  Watchdog watchdog("rebalancing", 60s);
  WorkerPool pool(probe_env(), quiet(WorkerPoolOptions{}.with_max_workers(2).with_min_workers(2)));
  for (int i = 0; i < 10; ++i) {
    pool.call<int>("fray_probe.calls:sleep_then_pid", 0.0).get();
  }
  auto busy = pool.call<int>("fray_probe.calls:sleep_then_pid", 0.5);  // one worker, half a second
  auto slow = pool.call<int>("fray_probe.calls:sleep_then_pid", 3.0);  // the other, expected short
  std::vector<fray::Future<int>> behind;
  for (int i = 0; i < 4; ++i) behind.push_back(pool.call<int>("fray_probe.calls:sleep_then_pid", 0.0));
  const int busy_pid = busy.get();
  for (auto& call : behind) {
    const Outcome outcome = outcome_of(call);
    CHECK_MESSAGE(outcome == answered(std::to_string(busy_pid)), outcome);  // moved to the worker that freed up
  }
  CHECK_FALSE(slow.ready());
  CHECK(slow.get() != busy_pid);
}

TEST_CASE("a request that is not valid UTF-8 fails that call with UnsupportedJson before it is sent, and its worker lives on") {
  Watchdog watchdog("a request that does not decode", 60s);
  TempDir dir("fray-attribution-");
  const fs::path runs = dir / "runs";
  WorkerPool pool(probe_env(), quiet(pipelined(WorkerPoolOptions{}.with_max_workers(1))));
  const int pid = pool.call<int>("fray_probe.calls:pid").get();
  auto before = pool.call<std::string>("fray_probe.calls:mark", runs.string(), "before");
  auto bad = pool.call<std::string>("fray_probe.calls:mark", runs.string(), std::string("caf\xe9"));
  auto after = pool.call<std::string>("fray_probe.calls:mark", runs.string(), "after");
  CHECK(outcome_of(before) == answered("before"));
  const Outcome refused = outcome_of(bad);
  CHECK_MESSAGE(refused.kind == "UnsupportedJson", refused);
  CHECK_MESSAGE(refused.mentions("argument 2 of fray_probe.calls:mark: a string that is not valid UTF-8"), refused);
  CHECK(outcome_of(after) == answered("after"));
  CHECK(pool.call<int>("fray_probe.calls:pid").get() == pid);
}

TEST_CASE("a Python actor whose process dies after its last handle is gone restarts to answer the calls made") {
  Watchdog watchdog("an actor crashing after its handles are gone", 60s);
  TempDir dir("fray-attribution-");
  const fs::path constructions = dir / "constructions", runs = dir / "runs";
  fray::Future<int> crash;
  fray::Future<std::string> after;
  {
    auto actor = fray::create_python_actor(probe_env(), quiet(PythonActorOptions{}.with_max_restarts(1)),
                                           "fray_probe.calls:Recorder", constructions.string());
    actor.ready().get();
    crash = actor.call<int>("crash");
    after = actor.call<std::string>("record", runs.string(), "after");
  }
  CHECK(outcome_of(crash).kind == "WorkerCrashed");
  CHECK(outcome_of(after) == answered("after"));
  CHECK(runs_of(runs, "after") == 1);
}

TEST_CASE("a Python actor's ready() stays complete after a restart") {
  Watchdog watchdog("ready() across a restart", 60s);
  TempDir dir("fray-attribution-");
  auto actor = fray::create_python_actor(probe_env(), quiet(PythonActorOptions{}.with_max_restarts(1)),
                                         "fray_probe.calls:Recorder", (dir / "constructions").string());
  actor.ready().get();
  CHECK(outcome_of(actor.call<int>("crash")).kind == "WorkerCrashed");
  CHECK(actor.ready().ready());
  // Let the restarted process end before the test does (the last test of
  // the program: its exit would find the actor still winding down).
  CHECK(outcome_of(actor.call<int>("add", 1)) == answered("1"));
  const int pid = actor.pid();
  actor = fray::PythonActor();
  CHECK(eventually([&] { return process_gone(pid); }, 30s));
}
