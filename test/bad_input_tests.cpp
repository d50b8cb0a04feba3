// Bad input, as a user meets it: each case backs a row of the README's
// "Bad input: what you see" table, asserting the error's type (or the
// `fray` command's failure) and the key words of the message the user
// reads. Rows whose test lives elsewhere are not repeated here; the table
// names those tests.
#include "test_support.hpp"
#include "venv_test_support.hpp"

#include <fray/jobs.hpp>
#include <fray/python.hpp>

#include <boost/json.hpp>

#include <fstream>
#include <limits>
#include <sstream>

using namespace fray_test;
using namespace std::chrono_literals;
using fray::ContextKind;
using fray::IsolatedVirtualEnv;
using fray::WorkerPool;
using fray::WorkerPoolOptions;
namespace json = boost::json;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// What `expression` throws, which must be an E (a FAIL otherwise).
template <class E, class F>
std::string message_of(F&& expression) {
  try {
    std::forward<F>(expression)();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("failed with another error: " << std::string(e.what()));
  }
  FAIL("did not fail");
  return {};
}

const IsolatedVirtualEnv& probe_env() {
  static IsolatedVirtualEnv env(probe_options(shared_cache(), 1));
  return env;
}

struct Tally {
  int value = 0;
};

fray::JobRequest true_job(std::string name) {
  fray::JobRequest request;
  request.name = std::move(name);
  request.entrypoint = fray::Entrypoint::binary({"/bin/true"});
  return request;
}

}  // namespace

// --- environments ------------------------------------------------------------

TEST_CASE("a missing interpreter is an InterpreterNotFound naming it, and nothing is built") {
  TempDir cache;
  const std::string missing = message_of<fray::InterpreterNotFound>(
      [&] { IsolatedVirtualEnv env(venv_options(cache.path()).with_python("/nonexistent/python3")); });
  CHECK(missing == "python /nonexistent/python3: no such executable file");
  const std::string not_on_path = message_of<fray::InterpreterNotFound>(
      [&] { IsolatedVirtualEnv env(venv_options(cache.path()).with_python("fray-no-such-python")); });
  CHECK(not_on_path == "python 'fray-no-such-python' is not on PATH");
  CHECK(no_partial_env(cache.path()));
}

// --- Python workers ------------------------------------------------------------

TEST_CASE("a result that is not JSON is a PythonError NotJsonSerializable naming its type, and the worker lives on") {
  WorkerPool pool(probe_env(), WorkerPoolOptions{}.with_max_workers(1));
  const int pid = pool.call<int>("fray_probe.calls:pid").get();
  const auto error = error_of<fray::PythonError>(pool.call("fray_probe.calls:not_json"));
  CHECK(error.type() == "NotJsonSerializable");
  CHECK(error.message() == "a result of type object is not JSON serializable");
  CHECK(std::string(error.what()).starts_with("fray_worker.NotJsonSerializable: a result of type object is not JSON serializable"));
  CHECK(pool.call<int>("fray_probe.calls:pid").get() == pid);
}

TEST_CASE("fray call passes an argument that is not JSON as a string, and reports a result that is not JSON on stderr") {
  const fs::path& cache = shared_cache();
  const auto echoed = shell(fray_command(cache, fmt::format("call {} --quiet fray_probe.calls:echo 'not json' '{{broken'",
                                                            probe_cli_options(1))));
  INFO(echoed.err);
  CHECK(echoed.status == 0);
  CHECK(json::parse(echoed.out) == json::parse(R"({"args": ["not json", "{broken"], "kwargs": {}})"));
  const auto result = shell(fray_command(cache, fmt::format("call {} --quiet fray_probe.calls:not_json", probe_cli_options(1))));
  CHECK(result.status != 0);
  CHECK(result.out.empty());
  CHECK(contains(result.err, "NotJsonSerializable: a result of type object is not JSON serializable"));
}

TEST_CASE("a taken Python actor name is an ActorNameTaken naming it") {
  auto first = fray::create_python_actor(probe_env(), fray::PythonActorOptions{}.with_name("bad-input-py"),
                                         "fray_probe.calls:Counter", 1);
  const std::string message = message_of<fray::ActorNameTaken>([&] {
    fray::create_python_actor(probe_env(), fray::PythonActorOptions{}.with_name("bad-input-py"), "fray_probe.calls:Counter", 2);
  });
  CHECK(message == "a Python actor named 'bad-input-py' already exists (get_if_exists returns it)");
  CHECK(first.call<int>("add", 0).get() == 1);
  fray::kill(first);
}

// --- resources and jobs ----------------------------------------------------------

TEST_CASE("a negative or infinite resource amount is an InvalidOptions naming the resource") {
  CHECK(message_of<fray::InvalidOptions>([] { fray::Resources{}.cpu(-1); }) ==
        "resource 'cpu' must be a finite amount >= 0, got -1");
  CHECK(contains(message_of<fray::InvalidOptions>([] { fray::Resources{}.set("gpu", std::numeric_limits<double>::infinity()); }),
                 "resource 'gpu' must be a finite amount >= 0"));
}

// Such an amount used to overflow the fixed point: it fitted every
// capacity, and running the task aborted the process.
TEST_CASE("a resource amount too large to count is an InvalidOptions, not a task that aborts the process") {
  CHECK(message_of<fray::InvalidOptions>([] { fray::Resources{}.cpu(1e300); }) ==
        "resource 'cpu' must be at most 900000000000000, got 1e+300");
  CHECK(contains(message_of<fray::InvalidOptions>([] { fray::Resources{}.memory(2e15); }), "must be at most 900000000000000"));
  CHECK(fray::Resources{}.cpu(fray::Resources::kMaxAmount).get("cpu") == fray::Resources::kMaxAmount);
  fray::Runtime runtime(fray::RuntimeOptions{}.with_capacity(fray::Resources{}.cpu(2)));
  const auto request = [] { return fray::TaskOptions{}.with_resources(fray::Resources{}.cpu(9.3e14)); };
  CHECK_THROWS_AS(runtime.context().run(request(), [] { return 1; }), fray::InvalidOptions);
}

TEST_CASE("a job request with a bad ram size, cpu 0 or below, or 0 replicas is an InvalidJobRequest saying which") {
  CHECK(message_of<fray::InvalidJobRequest>([] { fray::ResourceConfig{}.with_ram("-1g"); }) ==
        "ram '-1g' is not a size (use bytes, or 512m, 4g, 1.5GiB)");
  TempDir dir("fray-jobs-");
  fray::LocalCluster cluster(fray::LocalClusterOptions{}.with_jobs_dir(dir.path()).with_cpu(2).with_gpu(0));
  for (double cpu : {0.0, -1.0}) {
    CAPTURE(cpu);
    fray::JobRequest request = true_job("cpu");
    request.resources.with_cpu(cpu);
    CHECK(contains(message_of<fray::InvalidJobRequest>([&] { cluster.launch(request); }), "job 'cpu': cpu must be more than 0"));
  }
  fray::JobRequest none = true_job("none");
  none.replicas = 0;
  CHECK(message_of<fray::InvalidJobRequest>([&] { cluster.launch(none); }) == "job 'none': replicas must be at least 1 (got 0)");
  CHECK(cluster.list().empty());  // nothing was launched
}

// --- futures, promises, the runtime ----------------------------------------------

TEST_CASE("cancelling twice is a no-op the second time, and get throws TaskCancelled each time") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind, 1));
    auto& ctx = runtime.context();
    std::atomic<bool> release{kind == ContextKind::sync};
    auto busy = ctx.run([](std::atomic<bool>* r) {
      while (!r->load()) std::this_thread::yield();
    }, &release);
    std::atomic<int> ran{0};
    auto victim = ctx.run([](std::atomic<int>* r) { return ++*r; }, &ran);
    CHECK(victim.cancel());
    CHECK_FALSE(victim.cancel());
    release.store(true);
    busy.get();
    CHECK(message_of<fray::TaskCancelled>([&] { victim.get(); }) == "task cancelled");
    CHECK_FALSE(victim.cancel());
    CHECK(message_of<fray::TaskCancelled>([&] { victim.get(); }) == "task cancelled");
    CHECK(ran.load() == 0);
  });
}

TEST_CASE("after shutdown, run gives futures failing with TaskCancelled and create_actor throws RuntimeStopped") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    runtime.shutdown();
    auto late = ctx.run([] { return 1; });
    CHECK(message_of<fray::TaskCancelled>([&] { late.get(); }) == "the runtime is shutting down");
    CHECK(message_of<fray::RuntimeStopped>([&] { ctx.create_actor<Tally>(); }) == "the fray runtime is shutting down");
  });
}

TEST_CASE("a future of a task its destroyed runtime never ran fails with TaskCancelled saying the runtime shut down") {
  fray::Future<int> never_run;
  {
    fray::Runtime runtime(options_for(ContextKind::sync));
    never_run = runtime.context().run([] { return 1; });
  }
  CHECK(message_of<fray::TaskCancelled>([&] { never_run.get(); }) == "the runtime is shutting down");
}

TEST_CASE("an empty or moved-from future is an EmptyFuture saying so") {
  fray::Future<int> empty;
  CHECK(message_of<fray::EmptyFuture>([&] { empty.get(); }) == "empty fray future (default-constructed or moved from)");
  fray::Runtime runtime(options_for(ContextKind::threads));
  auto future = runtime.context().run([] { return 1; });
  auto taken = std::move(future);
  CHECK(message_of<fray::EmptyFuture>([&] { future.get(); }) == "empty fray future (default-constructed or moved from)");
  CHECK(taken.get() == 1);
}

TEST_CASE("a promise never kept: its waiting task is cancelled when the runtime ends, and dropping it is a BrokenPromise") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog(std::string("a task waiting for a promise never kept (") + name_of(kind) + ")", 20s);
    fray::Promise<int> never;
    fray::Future<int> waiting;
    {
      fray::Runtime runtime(options_for(kind));
      waiting = runtime.context().run([](int x) { return x; }, never.future());
    }
    CHECK(message_of<fray::TaskCancelled>([&] { waiting.get(); }) == "the runtime is shutting down");
    fray::Future<int> orphan = never.future();
    { fray::Promise<int> dropped = std::move(never); }
    CHECK(message_of<fray::BrokenPromise>([&] { orphan.get(); }) == "the promise was dropped before it gave a result");
  });
}

// --- the fray command line ---------------------------------------------------------

TEST_CASE("fray usage errors name the unknown command, the unknown option or the missing argument, and exit 2") {
  TempDir cache;
  struct Usage {
    const char* args;
    const char* message;
  };
  for (const Usage& usage : {Usage{"bogus", "fray: unknown command 'bogus' (run, call, venv, job)"},
                             Usage{"", "fray: which command? (run, call, venv, job)"},
                             Usage{"run --bogus -- true", "fray run: unknown option '--bogus'"},
                             Usage{"run --python", "fray run: --python needs a value"},
                             Usage{"run --quiet", "fray run: no COMMAND to run"},
                             Usage{"call", "fray call: no MODULE:FUNCTION to call"},
                             Usage{"call no_colon", "fray call: 'no_colon' is not MODULE:FUNCTION"},
                             Usage{"venv bogus", "fray venv: unknown subcommand 'bogus'"}}) {
    CAPTURE(usage.args);
    const ShellResult result = shell(fray_command(cache.path(), usage.args));
    CHECK(result.status == 2);  // the exit-code table: usage
    CHECK(result.out.empty());
    CHECK_MESSAGE(contains(result.err, usage.message), result.err);
    CHECK(contains(result.err, "--help"));
  }
  CHECK(entries(cache.path()).empty());  // a usage error builds nothing
}

TEST_CASE("a Python call with a timeout or queue_timeout of 0 or less, or max_retries below -1, fails with InvalidOptions and is not sent") {
  Watchdog watchdog("bad call options", 120s);
  WorkerPool pool(probe_env(), WorkerPoolOptions{}.with_max_workers(1));
  auto actor = fray::create_python_actor(probe_env(), "fray_probe.calls:Counter", 0);
  for (const fray::PythonCallOptions& bad : {fray::PythonCallOptions{}.with_timeout(-5ms), fray::PythonCallOptions{}.with_timeout(0s),
                                             fray::PythonCallOptions{}.with_queue_timeout(0ms),
                                             fray::PythonCallOptions{}.with_queue_timeout(-1s),
                                             fray::PythonCallOptions{}.with_max_retries(-2)}) {
    const std::string pool_error = message_of<fray::InvalidOptions>([&] { pool.call<int>(bad, "fray_probe.calls:add", 1, 2).get(60s); });
    CHECK(contains(pool_error, "PythonCallOptions::"));
    const std::string actor_error = message_of<fray::InvalidOptions>([&] { actor.call<int>(bad, "add", 1).get(60s); });
    CHECK(contains(actor_error, "PythonCallOptions::"));
  }
  // Nothing was sent: the actor's count is untouched, the pool answers.
  CHECK(actor.call<int>("add", 0).get(60s) == 0);
  CHECK(pool.call<int>("fray_probe.calls:add", 1, 2).get(60s) == 3);
}

TEST_CASE("a pool or an actor whose default call timeouts are 0 or less is refused with InvalidOptions") {
  Watchdog watchdog("bad default call timeouts", 120s);
  const std::string pool_error =
      message_of<fray::InvalidOptions>([&] { WorkerPool pool(probe_env(), WorkerPoolOptions{}.with_call_timeout(0s)); });
  CHECK(contains(pool_error, "call_timeout must be above 0"));
  const std::string queue_error = message_of<fray::InvalidOptions>(
      [&] { WorkerPool pool(probe_env(), WorkerPoolOptions{}.with_call_queue_timeout(-1s)); });
  CHECK(contains(queue_error, "call_queue_timeout must be above 0 (got -1000 ms"));
  const std::string actor_error = message_of<fray::InvalidOptions>([&] {
    fray::create_python_actor(probe_env(), fray::PythonActorOptions{}.with_call_queue_timeout(0ms), "fray_probe.calls:Counter", 0);
  });
  CHECK(contains(actor_error, "call_queue_timeout must be above 0"));
}

// --- the README's table -------------------------------------------------------------

namespace {

std::string file_text(const fs::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The table rows of the README's "Bad input" section.
std::vector<std::string> bad_input_rows() {
  const std::string readme = file_text(fs::path(FRAY_SOURCE_DIR) / "README.md");
  const auto start = readme.find("\n## Bad input: what you see\n");
  REQUIRE(start != std::string::npos);
  const auto end = readme.find("\n## ", start + 1);
  std::istringstream section(readme.substr(start, end - start));
  std::vector<std::string> rows;
  for (std::string line; std::getline(section, line);) {
    if (line.starts_with("| ") && !line.starts_with("| input |") && !line.starts_with("| ---")) rows.push_back(line);
  }
  return rows;
}

}  // namespace

TEST_CASE("every row of the README's bad input table names test cases that exist") {
  const std::vector<std::string> rows = bad_input_rows();
  CHECK(rows.size() >= 10);
  for (const std::string& row : rows) {
    CAPTURE(row);
    REQUIRE(row.ends_with(" |"));
    const std::string cell = row.substr(row.rfind(" | ") + 3, row.size() - row.rfind(" | ") - 5);
    int named = 0;
    for (std::size_t from = 0; from < cell.size();) {
      const std::size_t to = std::min(cell.find("; ", from), cell.size());
      const std::string test = cell.substr(from, to - from);
      from = to + 2;
      const auto colon = test.find(".cpp: ");
      REQUIRE_MESSAGE(colon != std::string::npos, "not FILE.cpp: CASE: " << test);
      const std::string file = test.substr(0, colon + 4), name = test.substr(colon + 6);
      // TEST_CASE("name") or TEST_CASE("name" * doctest::skip(...)).
      const std::string source = file_text(fs::path(FRAY_SOURCE_DIR) / "test" / file);
      CHECK_MESSAGE((contains(source, "TEST_CASE(\"" + name + "\")") || contains(source, "TEST_CASE(\"" + name + "\" *")),
                    file << " has no case \"" << name << "\"");
      ++named;
    }
    CHECK(named >= 1);
  }
}
