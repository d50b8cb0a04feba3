// fray-soak: fray under faults, for minutes (scripts/soak; not in the
// default suite). Each phase drives the public API the way a user's
// program would while a chaos thread SIGKILLs a random worker process of
// this driver, and checks that every call ends (with its result, a
// worker-crashed error, or a successful retry), none is lost or hung, and
// that afterwards no zombie, descriptor, thread or memory is left over.
//
//   fray-soak [--calls N] [--actor-calls N] [--builds N] [--jobs N] [--workers N] [--kill-every N]
//   fray-soak --load     1,000,000 tasks, 100,000 actors, 64 Python workers and
//                        10,000 cached envs listed and collected, with figures
//
// Prints one line of figures per phase; exits 0 when every phase passed,
// 1 when one did not (saying what), 2 on bad usage.
// The test helpers are shared with the doctest suites; no test is defined here.
#define DOCTEST_CONFIG_DISABLE
#include "venv_test_support.hpp"

#include <fray/detail/env_spec.hpp>
#include <fray/fray.hpp>
#include <fray/jobs.hpp>
#include <fray/python.hpp>

#include <boost/json.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <random>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using namespace fray_test;
namespace fs = std::filesystem;

extern char** environ;

namespace {

struct Settings {
  int calls = 10000;
  int actor_calls = 2000;
  int builds = 20;
  int jobs = 200;
  int workers = 4;
  int kill_every = 100;  // calls, on average, between two kills
  bool load = false;     // the load phases instead of the fault phases
};

// ------------------------------------------------------------------ what this process holds

int threads_now() { return int(entries("/proc/self/task").size()); }

// A "Name:   N kB" line of /proc/self/status, in KiB.
std::size_t status_kib(std::string_view name) {
  std::istringstream status(read_text("/proc/self/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(name) && line.size() > name.size() && line[name.size()] == ':') {
      return std::stoul(line.substr(name.size() + 1));
    }
  }
  return 0;
}

std::size_t rss_kib() { return status_kib("VmRSS"); }

int parent_of(int pid) {
  const std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
  const auto paren = stat.rfind(')');
  int ppid = 0;
  char state = 0;
  if (paren == std::string::npos || std::sscanf(stat.c_str() + paren + 1, " %c %d", &state, &ppid) != 2) return 0;
  return ppid;
}

// Live processes below this one whose command line mentions `text`.
std::vector<int> descendants_mentioning(const std::string& text) {
  std::vector<int> found;
  const int self = ::getpid();
  for (const auto& name : entries("/proc")) {
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    const int pid = std::stoi(name);
    std::string cmdline = read_text("/proc/" + name + "/cmdline");
    if (cmdline.find(text) == std::string::npos || process_gone(pid)) continue;
    for (int up = parent_of(pid), hops = 0; up > 1 && hops < 16; up = parent_of(up), ++hops) {
      if (up == self) {
        found.push_back(pid);
        break;
      }
    }
  }
  return found;
}

struct Held {
  int fds = 0, threads = 0;
  std::size_t rss = 0;
  static Held now() { return Held{open_fds(), threads_now(), rss_kib()}; }
};

// ------------------------------------------------------------------ chaos

// SIGKILLs a random worker process of this driver each time `due` says so.
class Chaos {
 public:
  Chaos(const Settings& settings, const std::atomic<int>& finished) : settings_(settings), finished_(finished) {
    thread_ = std::thread([this] { loop(); });
  }
  ~Chaos() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int kills() const { return kills_; }

 private:
  void loop() {
    std::mt19937 random(12345);
    std::uniform_int_distribution<int> gap(settings_.kill_every / 2, settings_.kill_every * 3 / 2);
    int next = gap(random);
    while (!stopping_) {
      if (finished_.load() >= next) {
        const std::vector<int> workers = descendants_mentioning("fray_worker");
        if (!workers.empty()) {
          const int victim = workers[std::uniform_int_distribution<std::size_t>(0, workers.size() - 1)(random)];
          if (::kill(victim, SIGKILL) == 0) ++kills_;
        }
        next = finished_.load() + gap(random);
      }
      std::this_thread::sleep_for(1ms);
    }
  }

  const Settings& settings_;
  const std::atomic<int>& finished_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> kills_{0};
  std::thread thread_;
};

// ------------------------------------------------------------------ outcomes

struct Outcomes {
  int calls = 0, ok = 0, crashed = 0, wrong = 0, lost = 0, hung = 0, kills = 0;
  std::vector<std::string> problems;

  void note_problem(std::string what) {
    if (problems.size() < 10) problems.push_back(std::move(what));
  }
  bool passed() const { return wrong == 0 && lost == 0 && hung == 0 && ok + crashed == calls; }
};

// Waits for one call and sorts its outcome; `expected` is its right result.
template <class R>
void collect(fray::Future<R>& future, const R& expected, Outcomes& out, std::atomic<int>& finished) {
  try {
    const R value = future.get(120s);
    if (value == expected) {
      ++out.ok;
    } else {
      ++out.wrong;
      out.note_problem(fmt::format("a call returned {} instead of {}", boost::json::serialize(boost::json::value_from(value)),
                                   boost::json::serialize(boost::json::value_from(expected))));
    }
  } catch (const fray::GetTimeout&) {
    ++out.hung;
    out.note_problem("a call did not end within 120 s");
  } catch (const fray::WorkerCrashed&) {
    ++out.crashed;
  } catch (const fray::EmptyFuture& e) {
    ++out.lost;
    out.note_problem(e.what());
  } catch (const std::exception& e) {
    ++out.wrong;
    out.note_problem(fmt::format("a call failed with an error that is not a crash: {}", e.what()));
  }
  ++finished;
}

bool leftovers_gone(const Held& before, Outcomes& out) {
  bool clean = true;
  for (int round = 0; round < 100; ++round) {  // reaping and thread exits take a moment
    clean = zombie_children() == 0 && descendants_mentioning("fray_worker").empty() && open_fds() <= before.fds &&
            threads_now() <= before.threads;
    if (clean) break;
    std::this_thread::sleep_for(50ms);
  }
  const Held after = Held::now();
  if (zombie_children() != 0) out.note_problem(fmt::format("{} zombie children left", zombie_children()));
  if (!descendants_mentioning("fray_worker").empty()) out.note_problem("worker processes outlived their pool");
  if (after.fds > before.fds) out.note_problem(fmt::format("{} descriptors more than before", after.fds - before.fds));
  if (after.threads > before.threads) out.note_problem(fmt::format("{} threads more than before", after.threads - before.threads));
  // Memory "back to its level": allocators keep some; more than 64 MiB
  // above the level before the phase is a leak.
  if (after.rss > before.rss + 64 * 1024) {
    out.note_problem(fmt::format("RSS grew from {} to {} MiB", before.rss / 1024, after.rss / 1024));
    clean = false;
  }
  return clean;
}

bool report(const char* phase, Outcomes& out, const Held& before) {
  const bool clean = leftovers_gone(before, out);
  const Held after = Held::now();
  const bool passed = out.passed() && clean;
  std::printf("%-8s calls %d  ok %d  crashed %d  kills %d  lost %d  hung %d  wrong %d  "
              "fds %d->%d  threads %d->%d  rss %zu->%zu MiB  %s\n",
              phase, out.calls, out.ok, out.crashed, out.kills, out.lost, out.hung, out.wrong, before.fds, after.fds,
              before.threads, after.threads, before.rss / 1024, after.rss / 1024, passed ? "PASS" : "FAIL");
  for (const std::string& problem : out.problems) std::printf("  %s: %s\n", phase, problem.c_str());
  std::fflush(stdout);
  return passed;
}

// ------------------------------------------------------------------ phases

// Calls over a pool, a window of them in flight, while workers are killed;
// half the calls may retry on another worker (3 times).
bool soak_pool(const fray::IsolatedVirtualEnv& env, const Settings& settings) {
  const Held before = Held::now();
  Outcomes out;
  std::atomic<int> finished{0};
  {
    fray::WorkerPool pool(env, fray::WorkerPoolOptions{}
                                   .with_max_workers(std::size_t(settings.workers))
                                   .with_log_sink([](const fray::WorkerLogLine&) {}));
    Chaos chaos(settings, finished);
    constexpr int kWindow = 64;
    std::vector<std::pair<fray::Future<double>, double>> flying;
    for (int i = 0; i < settings.calls; ++i) {
      const auto options = fray::PythonCallOptions{}.with_max_retries(i % 4 < 2 ? 0 : 3);
      // Every result differs, so that one going to the wrong call shows; half
      // the calls sleep about a millisecond, so that kills land inside calls.
      if (i % 2 == 0) {
        flying.emplace_back(pool.call<double>(options, "fray_probe.calls:add", i, 1), double(i + 1));
      } else {
        const double seconds = 0.001 + i * 1e-8;
        flying.emplace_back(pool.call<double>(options, "fray_probe.calls:sleep", seconds), seconds);
      }
      ++out.calls;
      if (flying.size() >= kWindow) {
        collect(flying.front().first, flying.front().second, out, finished);
        flying.erase(flying.begin());
      }
    }
    for (auto& [future, expected] : flying) collect(future, expected, out, finished);
    chaos.stop();
    out.kills = chaos.kills();
  }
  return report("pool", out, before);
}

// Calls to one Python actor that restarts whenever its process is killed;
// its state starts again, so only the call's end is checked, and `add(0)`
// of a fresh or an old counter is its count.
bool soak_actor(const fray::IsolatedVirtualEnv& env, const Settings& settings) {
  const Held before = Held::now();
  Outcomes out;
  std::atomic<int> finished{0};
  {
    fray::PythonActor actor = fray::create_python_actor(
        env, fray::PythonActorOptions{}.with_max_restarts(-1).with_max_task_retries(1), "fray_probe.calls:Counter", 0, 0);
    Chaos chaos(settings, finished);
    std::vector<fray::Future<int>> flying;
    for (int i = 0; i < settings.actor_calls; ++i) {
      flying.push_back(actor.call<int>("add", 0));  // step 0: always 0
      ++out.calls;
      if (flying.size() >= 16) {
        collect(flying.front(), 0, out, finished);
        flying.erase(flying.begin());
      }
    }
    for (auto& future : flying) collect(future, 0, out, finished);
    chaos.stop();
    out.kills = chaos.kills();
  }
  return report("actor", out, before);
}

// `fray venv create` killed at a random moment of its build, again and
// again, in one cache: afterwards the cache lists clean and the env opens.
bool soak_env_builds(const Settings& settings) {
  const Held before = Held::now();
  Outcomes out;
  TempDir cache("fray-soak-cache-");
  const TestWheels& wheels = test_wheels();
  std::mt19937 random(777);
  std::uniform_int_distribution<int> delay_ms(0, 3000);
  for (int round = 0; round < settings.builds; ++round) {
    ++out.calls;
    const std::vector<std::string> words{kFrayCli, "venv", "create", "--python", kSystemPython, "--no-index",
                                         "--find-links", wheels.v1.string(), "--env", fmt::format("SOAK_ROUND={}", round % 4),
                                         "--package", "fray_probe==1.0", "--quiet"};
    std::vector<char*> argv;
    for (const std::string& word : words) argv.push_back(const_cast<char*>(word.c_str()));
    argv.push_back(nullptr);
    std::vector<std::string> env_lines{"FRAY_CACHE_DIR=" + cache.path().string(), "HOME=" + cache.path().string(),
                                       "PATH=/usr/bin:/bin"};
    std::vector<char*> envp;
    for (std::string& line : env_lines) envp.push_back(line.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      ++out.wrong;
      out.note_problem(fmt::format("cannot start fray: {}", std::strerror(spawned)));
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(random)));
    if (::kill(pid, SIGKILL) == 0) ++out.kills;
    int status = 0;
    ::waitpid(pid, &status, 0);
    ++out.ok;
  }
  // The next open of each spec works, and the cache lists clean.
  for (int round = 0; round < std::min(settings.builds, 4); ++round) {
    ++out.calls;
    try {
      fray::IsolatedVirtualEnv env(probe_options(cache.path(), 1).with_env("SOAK_ROUND", std::to_string(round)));
      const fray::ProcessResult result = env.run({"python", "-c", "import fray_probe; print(fray_probe.__version__)"}).get(300s);
      if (result.status() == 0 && trimmed(result.out) == "1.0") {
        ++out.ok;
      } else {
        ++out.wrong;
        out.note_problem("an env built after the kills does not import its package: " + result.err);
      }
    } catch (const std::exception& e) {
      ++out.wrong;
      out.note_problem(fmt::format("opening an env after the kills failed: {}", e.what()));
    }
  }
  const ShellResult listed = shell(fmt::format("FRAY_CACHE_DIR={} {} venv list", shell_quote(cache.path().string()), kFrayCli));
  if (listed.status != 0) {
    ++out.wrong;
    out.note_problem("fray venv list failed after the kills: " + listed.err);
  }
  // A killed fray's build dies with it (its guard kills the whole tree).
  bool outlived = true;
  for (int round = 0; round < 100 && outlived; ++round) {
    outlived = processes_mentioning(cache.path().string()) > 0;
    if (outlived) std::this_thread::sleep_for(50ms);
  }
  if (outlived) {
    out.note_problem("a build's processes outlived the killed fray");
    ++out.wrong;
  }
  return report("builds", out, before);
}


// Local jobs while a chaos loop SIGKILLs the supervisors of random running
// jobs: every job ends (none stays pending or running), a job nobody
// killed ends as its script said (exit 0: succeeded, exit 3: failed), a
// killed one is failed or had already succeeded; afterwards no process of
// any job is left.
bool soak_jobs(const Settings& settings) {
  const Held before = Held::now();
  Outcomes out;
  TempDir dir("fray-soak-jobs-");
  std::set<std::string> killed;
  {
    fray::LocalCluster cluster(
        fray::LocalClusterOptions{}.with_jobs_dir(dir.path()).with_cpu(2).with_gpu(0).with_kill_grace(1s));
    std::vector<std::pair<fray::JobId, bool>> jobs;  // id, whether its script succeeds
    std::mt19937 random(4242);
    for (int i = 0; i < settings.jobs; ++i) {
      fray::JobRequest request;
      request.name = fmt::format("soak-{}", i);
      const bool succeeds = i % 5 != 0;
      request.entrypoint = fray::Entrypoint::binary(
          {"/bin/sh", "-c", fmt::format("sleep 0.0{}; echo job {}; exit {}", i % 10, i, succeeds ? 0 : 3)});
      request.resources = fray::ResourceConfig{}.with_cpu(0.5);
      jobs.emplace_back(cluster.launch(request), succeeds);
      ++out.calls;
      // Now and then, the supervisor of an earlier job that is still running dies.
      if (i % std::max(1, settings.kill_every / 10) == 0 && i > 0) {
        // One of the last few launched: most likely still running.
        const std::size_t back = std::uniform_int_distribution<std::size_t>(0, std::min<std::size_t>(3, jobs.size() - 1))(random);
        const auto& [victim, unused] = jobs[jobs.size() - 1 - back];
        const int pid = std::atoi(read_text(dir.path() / victim / "supervisor.pid").c_str());
        if (pid > 0 && !is_finished(cluster.poll(victim).status) && ::kill(pid, SIGKILL) == 0) {
          ++out.kills;
          killed.insert(victim);
        }
      }
    }
    for (const auto& [id, succeeds] : jobs) {
      fray::JobInfo info;
      try {
        info = cluster.wait(id, std::chrono::seconds(120));
      } catch (const fray::JobWaitTimeout&) {
        ++out.hung;
        out.note_problem(fmt::format("job {} did not end within 120 s", id));
        continue;
      }
      const bool was_killed = killed.count(id) != 0;
      const bool as_scripted = info.status == (succeeds ? fray::JobStatus::succeeded : fray::JobStatus::failed);
      if (as_scripted) {
        ++out.ok;
      } else if (was_killed && info.status == fray::JobStatus::failed) {
        ++out.crashed;
      } else {
        ++out.wrong;
        out.note_problem(fmt::format("job {} ended {} ({}){}", id, fray::to_string(info.status), info.error,
                                     was_killed ? ", its supervisor killed" : ""));
      }
    }
  }
  bool outlived = true;
  for (int round = 0; round < 100 && outlived; ++round) {
    outlived = processes_mentioning(dir.path().string()) > 0;
    if (outlived) std::this_thread::sleep_for(50ms);
  }
  if (outlived) {
    ++out.wrong;
    out.note_problem("a job's processes outlived it");
  }
  return report("jobs", out, before);
}

// ------------------------------------------------------------------ load

// Peak memory of this process so far, in KiB.
std::size_t peak_rss_kib() { return status_kib("VmHWM"); }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool load_line(const char* what, std::size_t count, double seconds, const Held& before, std::size_t peak_fds,
               bool ok, const std::string& problem = {}) {
  const Held after = Held::now();
  std::printf("%-8s %zu in %.1f s (%.0f/s)  peak rss %zu MiB  fds %d->%d (peak %zu)  threads %d->%d  %s%s%s\n", what, count,
              seconds, double(count) / seconds, peak_rss_kib() / 1024, before.fds, after.fds, peak_fds, before.threads,
              after.threads, ok ? "PASS" : "FAIL", problem.empty() ? "" : ": ", problem.c_str());
  std::fflush(stdout);
  return ok;
}

struct LoadCounter {
  explicit LoadCounter(int start) : value(start) {}
  int add(int n) { return value += n; }
  int value;
};

// 1,000,000 tasks through one Runtime, 10,000 in flight at a time.
bool load_tasks(std::size_t count) {
  const Held before = Held::now();
  const auto start = std::chrono::steady_clock::now();
  std::size_t wrong = 0;
  {
    fray::Runtime runtime;
    auto& ctx = runtime.context();
    std::vector<fray::Future<std::size_t>> batch;
    for (std::size_t done = 0; done < count;) {
      const std::size_t n = std::min<std::size_t>(10000, count - done);
      batch.clear();
      for (std::size_t i = 0; i < n; ++i) batch.push_back(ctx.run([](std::size_t x) { return x + 1; }, done + i));
      for (std::size_t i = 0; i < n; ++i) wrong += batch[i].get() != done + i + 1;
      done += n;
    }
  }
  return load_line("tasks", count, seconds_since(start), before, std::size_t(open_fds()), wrong == 0,
                   wrong == 0 ? "" : fmt::format("{} wrong results", wrong));
}

// 100,000 actors alive at once, each called once, then all dropped.
bool load_actors(std::size_t count) {
  const Held before = Held::now();
  const auto start = std::chrono::steady_clock::now();
  std::size_t wrong = 0;
  {
    fray::Runtime runtime;
    auto& ctx = runtime.context();
    std::vector<fray::ActorHandle<LoadCounter>> actors;
    actors.reserve(count);
    std::vector<fray::Future<int>> answers;
    answers.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      actors.push_back(ctx.create_actor<LoadCounter>(int(i)));
      answers.push_back(actors.back().call(&LoadCounter::add, 1));
    }
    for (std::size_t i = 0; i < count; ++i) wrong += answers[i].get() != int(i) + 1;
  }
  return load_line("actors", count, seconds_since(start), before, std::size_t(open_fds()), wrong == 0,
                   wrong == 0 ? "" : fmt::format("{} wrong results", wrong));
}

// 64 Python workers at once, each answering calls.
bool load_workers(const fray::IsolatedVirtualEnv& env, std::size_t count) {
  const Held before = Held::now();
  const auto start = std::chrono::steady_clock::now();
  std::size_t peak_fds = 0, live = 0, pids = 0, wrong = 0;
  {
    fray::WorkerPool pool(env, fray::WorkerPoolOptions{}.with_max_workers(count).with_log_sink([](const fray::WorkerLogLine&) {}));
    pool.prestart(count);
    // Long enough calls that every worker gets some.
    std::vector<fray::Future<int>> calls;
    for (std::size_t i = 0; i < count * 4; ++i) calls.push_back(pool.call<int>("fray_probe.calls:pid"));
    std::set<int> answered_by;
    for (auto& call : calls) {
      try {
        answered_by.insert(call.get(300s));
      } catch (const std::exception&) {
        ++wrong;
      }
    }
    pids = answered_by.size();
    live = pool.size();
    peak_fds = std::size_t(open_fds());
  }
  const bool ok = wrong == 0 && live == count && zombie_children() == 0;
  return load_line("workers", count, seconds_since(start), before, peak_fds, ok,
                   fmt::format("{} live, {} of them answered, {} failed calls", live, pids, wrong));
}

// 10,000 envs in one cache: one real env, built, then copied in fray's
// layout under 9,999 more keys (the layout and metadata of each, not its
// site-packages: the cache's own work, listing and collecting, is what is
// measured); `fray venv list` and `fray venv gc --max-size 0` go through all.
bool load_cache(std::size_t count) {
  const Held before = Held::now();
  TempDir cache("fray-load-cache-");
  fray::IsolatedVirtualEnv real(venv_options(cache.path()));
  const fray::detail::CacheLayout layout(cache.path());
  const std::string real_key = real.key();
  const fs::path source = layout.env(real_key);
  for (std::size_t i = 1; i < count; ++i) {
    const std::string key = fmt::format("{:032x}", i);
    fs::create_directories(layout.env(key) / "bin");
    fs::copy_file(source / "pyvenv.cfg", layout.env(key) / "pyvenv.cfg");
    fs::copy_file(layout.metadata(real_key), layout.metadata(key));
    fs::create_symlink(kSystemPython, layout.env(key) / "bin" / "python");
    fs::copy_file(layout.marker(real_key), layout.marker(key));
  }
  real.close();  // closed: collectable too
  const std::string prefix = "FRAY_CACHE_DIR=" + shell_quote(cache.path().string()) + " ";
  auto start = std::chrono::steady_clock::now();
  const ShellResult listed = shell(prefix + kFrayCli + " venv list");
  const double list_seconds = seconds_since(start);
  const int rows = count_lines(listed.out);
  bool ok = load_line("list", count, list_seconds, before, std::size_t(open_fds()), listed.status == 0 && rows >= int(count),
                      fmt::format("{} lines listed", rows));
  start = std::chrono::steady_clock::now();
  const ShellResult collected = shell(prefix + kFrayCli + " venv gc --max-size 0");
  const double gc_seconds = seconds_since(start);
  const std::size_t left = entries(layout.envs()).size();
  ok = load_line("gc", count, gc_seconds, before, std::size_t(open_fds()), collected.status == 0 && left == 0,
                 fmt::format("{} envs left", left)) && ok;
  return ok;
}

std::optional<int> positive(const char* text) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 1 || value > 10'000'000) return std::nullopt;
  return int(value);
}

std::optional<Settings> parse(int argc, char** argv) {
  Settings settings;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--load") {
      settings.load = true;
      continue;
    }
    int* target = flag == "--calls"         ? &settings.calls
                  : flag == "--actor-calls" ? &settings.actor_calls
                  : flag == "--builds"      ? &settings.builds
                  : flag == "--jobs"        ? &settings.jobs
                  : flag == "--workers"     ? &settings.workers
                  : flag == "--kill-every"  ? &settings.kill_every
                                            : nullptr;
    if (target == nullptr || i + 1 >= argc) return std::nullopt;
    const auto value = positive(argv[++i]);
    if (!value) return std::nullopt;
    *target = *value;
  }
  return settings;
}

}  // namespace

int soak(const Settings& settings);

int main(int argc, char** argv) {
  const auto settings = parse(argc, argv);
  if (!settings) {
    std::fprintf(stderr,
                 "usage: fray-soak [--calls N] [--actor-calls N] [--builds N] [--jobs N] [--workers N] [--kill-every N]\n"
                 "       fray-soak --load   (1,000,000 tasks, 100,000 actors, 64 Python workers, 10,000 cached envs)\n"
                 "  (each N a whole number from 1; defaults 10000, 2000, 20, 200, 4, 100)\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return soak(*settings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fray-soak: could not run: %s\n", e.what());
    return 1;
  }
}

int soak(const Settings& settings_value) {
  const Settings* settings = &settings_value;
  // Open the env, and start and stop a pool once, so that what fray starts
  // once per program (its process thread, an idle guard) is in the level.
  fray::IsolatedVirtualEnv env(probe_options(shared_cache(), 1));
  {
    fray::WorkerPool warm(env, fray::WorkerPoolOptions{}.with_max_workers(1));
    (void)warm.call<int>("fray_probe.calls:add", 1, 1).get(120s);
  }
  if (settings->load) {
    bool passed = load_tasks(1'000'000);
    passed = load_actors(100'000) && passed;
    passed = load_workers(env, 64) && passed;
    passed = load_cache(10'000) && passed;
    std::printf("fray-soak --load: %s\n", passed ? "PASS" : "FAIL");
    return passed ? 0 : 1;
  }
  bool passed = soak_pool(env, *settings);
  passed = soak_actor(env, *settings) && passed;
  passed = soak_env_builds(*settings) && passed;
  passed = soak_jobs(*settings) && passed;
  std::printf("fray-soak: %s\n", passed ? "PASS" : "FAIL");
  return passed ? 0 : 1;
}
