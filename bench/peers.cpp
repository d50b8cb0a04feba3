#include "peers.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <fmt/format.h>

#include "fray/detail/fs_util.hpp"

#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <stdexcept>
#include <system_error>

#ifndef FRAY_BENCH_PYTHON_DIR
#error "FRAY_BENCH_PYTHON_DIR (the directory of bench/python) must be defined by the build"
#endif

namespace fray::bench {

void skip_library_peer(Report& report, std::string_view area, std::string_view peer, std::string_view library,
                       std::string_view package, std::string_view meson_looked_for) {
  if (FRAY_BENCH_THREAD_SANITIZER) {
    report.skip(std::string(area), fmt::format("{}: not measured in a ThreadSanitizer build (TSan cannot see the "
                                               "synchronization inside the uninstrumented {} of {}, and reports races "
                                               "in it); a release build measures it",
                                               peer, library, package));
    return;
  }
  report.skip(std::string(area), fmt::format("{}: fray-bench was built without {} (Meson found no {}; Debian: apt-get "
                                             "install {}, or scripts/setup-debian, then meson setup --reconfigure)",
                                             peer, library, meson_looked_for, package));
}

namespace {

namespace asio = boost::asio;
namespace bp = boost::process::v2;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

std::size_t pick(const SuiteOptions& options, std::size_t full, std::size_t quick) {
  return options.quick ? quick : full;
}

std::int64_t elapsed_ns(clock::time_point start, clock::time_point stop) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count();
}

std::string python_script(std::string_view name) { return (fs::path(FRAY_BENCH_PYTHON_DIR) / name).string(); }

using TempDir = fray::detail::TempDirectory;

// --- child processes -------------------------------------------------------

enum class ChildStdout { capture, to_stderr };

struct ChildResult {
  int exit_code = -1;
  std::string out;  // stdout, when captured
};

// Puts the child in a process group of its own, so a timeout can kill what it
// started too (multiprocessing workers), and has it killed if fray-bench dies
// (Ctrl-C no longer reaches a separate group). Runs between fork and exec:
// async-signal-safe calls only.
struct OwnProcessGroup {
  pid_t parent = ::getpid();

  boost::system::error_code on_exec_setup(bp::posix::default_launcher&, const bp::filesystem::path&,
                                          const char* const*) const {
    if (::setpgid(0, 0) == -1 || ::prctl(PR_SET_PDEATHSIG, SIGKILL) == -1) {
      return {errno, boost::system::system_category()};
    }
    if (::getppid() != parent) return {ESRCH, boost::system::system_category()};  // fray-bench already died
    return {};
  }
};

// Runs `exe args...` with stdin from /dev/null and stderr inherited, so a
// child's complaints reach the user. Kills its process group if it is still
// running after `timeout`, and then throws.
ChildResult run_child(const std::string& exe, const std::vector<std::string>& args, ChildStdout mode,
                      std::chrono::seconds timeout) {
  asio::io_context ctx;
  asio::readable_pipe out_pipe(ctx);
  std::optional<bp::process> child;
  // process_stdio is passed as a temporary: the parent's copy of the child's
  // pipe end closes only when it is destroyed, and EOF needs that.
  if (mode == ChildStdout::capture) {
    child.emplace(ctx, exe, args, bp::process_stdio{nullptr, out_pipe, {}}, OwnProcessGroup{});
  } else {
    child.emplace(ctx, exe, args, bp::process_stdio{nullptr, stderr, {}}, OwnProcessGroup{});
  }

  ChildResult result;
  bool reading = mode == ChildStdout::capture, running = true, timed_out = false;
  asio::steady_timer deadline(ctx, timeout);
  if (reading) {
    asio::async_read(out_pipe, asio::dynamic_buffer(result.out), [&](boost::system::error_code, std::size_t) {
      reading = false;
      if (!running) deadline.cancel();
    });
  }
  child->async_wait([&](boost::system::error_code ec, int code) {
    running = false;
    result.exit_code = ec ? -1 : code;
    if (!reading) deadline.cancel();
  });
  deadline.async_wait([&](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the child finished in time
    timed_out = true;
    boost::system::error_code ignored;
    ::kill(-child->id(), SIGKILL);  // the group; async_wait above then reaps the child
    out_pipe.close(ignored);  // a grandchild may still hold the pipe open
  });
  ctx.run();
  if (timed_out) {
    throw std::runtime_error(fmt::format("{} {} did not finish within {} s", exe, fmt::join(args, " "),
                                         timeout.count()));
  }
  return result;
}

void run_checked(const std::string& exe, const std::vector<std::string>& args, std::chrono::seconds timeout) {
  const ChildResult r = run_child(exe, args, ChildStdout::to_stderr, timeout);
  if (r.exit_code != 0) {
    throw std::runtime_error(fmt::format("{} {} exited with {}", exe, fmt::join(args, " "), r.exit_code));
  }
}

// The plain spawn-and-reap path: what process_spawn and python_startup time.
int spawn_and_wait(asio::io_context& ctx, const bp::filesystem::path& exe, const std::vector<std::string>& args) {
  bp::process child(ctx, exe, args);
  return child.wait();
}

// --- Python peers ----------------------------------------------------------

// Children print one JSON object on stdout; say which child when they did not.
boost::json::object parse_child_json(const ChildResult& r, std::string_view what) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(r.out, ec);
  if (ec || !v.is_object()) {
    throw std::runtime_error(fmt::format("{} did not print a JSON object ({}); its stdout began: '{}'", what,
                                         ec ? ec.message() : "not an object", std::string_view(r.out).substr(0, 200)));
  }
  return std::move(v.as_object());
}

bool have_python(Report& report, const SuiteOptions& options, std::string_view area, std::string_view peer) {
  if (!options.python.empty()) return true;
  report.skip(fmt::format("{}-peers", area),
              fmt::format("{}: no Python interpreter (python3 is not on PATH; pass --python EXE)", peer));
  return false;
}

// What one of bench/python/*_peer.py printed: {"reps_ns": [[...], ...]},
// {"samples_ns": [...]} or {"ops": N, "elapsed_ns": T}.
Measurement measurement_of(const boost::json::object& result) {
  auto numbers = [](const boost::json::value& list) {
    std::vector<std::int64_t> ns;
    ns.reserve(list.as_array().size());
    for (const auto& s : list.as_array()) ns.push_back(s.to_number<std::int64_t>());
    return ns;
  };
  if (const auto* reps = result.if_contains("reps_ns")) {
    std::vector<std::vector<std::int64_t>> all;
    for (const auto& rep : reps->as_array()) all.push_back(numbers(rep));
    return latency_from_reps(all);
  }
  if (const auto* samples = result.if_contains("samples_ns")) return latency_from_samples(numbers(*samples));
  return throughput(result.at("ops").to_number<std::uint64_t>(),
                    std::chrono::nanoseconds(result.at("elapsed_ns").to_number<std::int64_t>()));
}

// Runs bench/python/`script` with `python` (MODE N WARMUP REPS, then
// `extra`); the JSON object it printed.
boost::json::object run_python_script(const SuiteOptions& options, const std::string& python, std::string_view script,
                                      std::string_view mode, std::size_t n, std::size_t warmup,
                                      std::vector<std::string> extra = {}) {
  const std::string path = python_script(script);
  std::vector<std::string> args{"-I", path, std::string(mode), std::to_string(n), std::to_string(warmup),
                                std::to_string(kRepetitions)};
  args.insert(args.end(), extra.begin(), extra.end());
  const ChildResult r = run_child(python, args, ChildStdout::capture, options.quick ? 120s : 600s);
  if (r.exit_code != 0) {
    throw std::runtime_error(fmt::format("{} {} {} exited with {}", python, path, mode, r.exit_code));
  }
  return parse_child_json(r, path);
}

Measurement run_python_peer(const SuiteOptions& options, const std::string& python, std::string_view script,
                            std::string_view mode, std::size_t n, std::size_t warmup) {
  return measurement_of(run_python_script(options, python, script, mode, n, warmup));
}

void record_python_peer(Report& report, const SuiteOptions& options, std::string_view area, std::string name,
                        std::string_view script, std::string_view mode, std::size_t n, std::size_t warmup) {
  if (!have_python(report, options, area, name)) return;
  progress(fmt::format("peer {}: {} ops via {}", name, n, script));
  report.peer(std::move(name), run_python_peer(options, options.python, script, mode, n, warmup));
}

// The interpreter that can import `module`: the default one, else Debian's
// /usr/bin/python3 (where apt's python3-dask and python3-joblib go); empty
// if neither can. Asked once per module.
std::string python_with(const SuiteOptions& options, const std::string& module) {
  static std::map<std::string, std::string> found;
  if (auto it = found.find(module); it != found.end()) return it->second;
  std::string pick;
  const std::string probe = fmt::format("import importlib.util, sys; sys.exit(importlib.util.find_spec('{}') is None)",
                                        module);
  for (const std::string& python : {options.python, std::string("/usr/bin/python3")}) {
    if (python.empty() || ::access(python.c_str(), X_OK) != 0) continue;
    try {
      const ChildResult r = run_child(python, {"-I", "-c", probe}, ChildStdout::capture, 60s);
      if (r.exit_code == 0) {
        pick = python;
        break;
      }
    } catch (const std::exception&) {
    }
  }
  return found[module] = pick;
}

// The interpreter for a Python library's peers, or empty after naming them
// skipped (with why) when no interpreter has it.
std::string library_python(Report& report, const SuiteOptions& options, std::string_view peers,
                           const std::string& module, std::string_view debian_package) {
  std::string python = python_with(options, module);
  if (python.empty()) {
    report.skip("python-peers", fmt::format("{}: neither {} nor /usr/bin/python3 can import {} (Debian: apt-get install "
                                            "{}, or scripts/setup-debian)",
                                            peers, options.python.empty() ? "python3" : options.python, module,
                                            debian_package));
  }
  return python;
}

// Names the interpreter in the row when it is not the default one.
void record_library_row(Report& report, const SuiteOptions& options, std::string name, const std::string& python,
                        Measurement m) {
  if (python != options.python) m.python = python;
  report.peer(std::move(name), std::move(m));
}

// A peer of a Python library: run with the interpreter that has it.
void record_library_peer(Report& report, const SuiteOptions& options, std::string name, const std::string& module,
                         std::string_view debian_package, std::string_view script, std::string_view mode,
                         std::size_t n, std::size_t warmup) {
  const std::string python = library_python(report, options, name, module, debian_package);
  if (python.empty()) return;
  progress(fmt::format("peer {}: {} ops via {} with {}", name, n, script, python));
  record_library_row(report, options, std::move(name), python, run_python_peer(options, python, script, mode, n, warmup));
}

// Spawns and reaps `exe args` from a fresh fray-bench child (--spawn-peer),
// so that the figure is a small process's and not that of this one, which
// has grown by the time the peer runs. driver_rss_bytes: the child's size.
Measurement spawn_from_small_child(const SuiteOptions& options, const std::string& exe,
                                   const std::vector<std::string>& args, std::size_t n, std::size_t warmup) {
  if (options.self_exe.empty()) throw std::runtime_error("fray-bench cannot find its own executable");
  std::vector<std::string> child_args{"--spawn-peer", std::to_string(n), std::to_string(warmup), exe};
  child_args.insert(child_args.end(), args.begin(), args.end());
  const ChildResult r = run_child(options.self_exe, child_args, ChildStdout::capture, 600s);
  if (r.exit_code != 0) {
    throw std::runtime_error(fmt::format("fray-bench --spawn-peer {} exited with {}", exe, r.exit_code));
  }
  const boost::json::object result = parse_child_json(r, "fray-bench --spawn-peer");
  std::vector<std::int64_t> ns;
  for (const auto& s : result.at("samples_ns").as_array()) ns.push_back(s.to_number<std::int64_t>());
  Measurement m = latency_from_samples(std::move(ns));
  m.driver_rss_bytes = result.at("rss_bytes").to_number<double>();
  return m;
}

asio::awaitable<void> trivial_task() { co_return; }

}  // namespace

// --- C++ peers -------------------------------------------------------------

void peer_std_async_roundtrip(Report& report, const SuiteOptions& options) {
  const std::size_t n = pick(options, 10'000, 2'000);
  progress(fmt::format("peer std_async_roundtrip: {} ops", n));
  auto samples = time_each(pick(options, 200, 50), n, [] { std::async(std::launch::async, [] {}).get(); });
  report.peer("std_async_roundtrip", latency_from_samples(std::move(samples)));
}

void peer_asio_post_roundtrip(Report& report, const SuiteOptions& options) {
  const std::size_t n = pick(options, 20'000, 5'000);
  progress(fmt::format("peer asio_post_roundtrip: {} ops", n));
  report.peer("asio_post_roundtrip", repeated_latency([&] {
                asio::thread_pool pool(2);
                auto samples = time_each(pick(options, 500, 100), n / kRepetitions, [&pool] {
                  std::promise<void> done;
                  auto finished = done.get_future();
                  asio::post(pool, [&done] { done.set_value(); });
                  finished.get();
                });
                pool.join();
                return samples;
              }));
}

void peer_asio_cospawn_throughput(Report& report, const SuiteOptions& options) {
  const std::size_t n = pick(options, 1'000'000, 100'000);
  progress(fmt::format("peer asio_cospawn_throughput: {} co_spawn", n));
  asio::io_context ctx(1);
  for (std::size_t i = 0; i < 10'000; ++i) asio::co_spawn(ctx, trivial_task(), asio::detached);
  ctx.run();
  ctx.restart();

  const auto start = clock::now();
  for (std::size_t i = 0; i < n; ++i) asio::co_spawn(ctx, trivial_task(), asio::detached);
  ctx.run();
  const auto stop = clock::now();
  report.peer("asio_cospawn_throughput", throughput(n, stop - start));
}

void peer_process_spawn(Report& report, const SuiteOptions& options) {
  const auto exe = bp::environment::find_executable("true");
  if (exe.empty()) throw std::runtime_error("process_spawn: `true` is not on PATH");
  const std::size_t n = pick(options, 500, 200);
  progress(fmt::format("peer process_spawn: {} spawns of {} from a small child", n, exe.string()));
  report.peer("process_spawn", spawn_from_small_child(options, exe.string(), {}, n, pick(options, 20, 5)));
}

int spawn_peer_child(const std::vector<std::string>& args) {
  if (args.size() < 3) {
    std::fputs("fray-bench --spawn-peer N WARMUP EXE [ARG]...\n", stderr);
    return 2;
  }
  const std::size_t n = std::stoul(args[0]), warmup = std::stoul(args[1]);
  const bp::filesystem::path exe(args[2]);
  const std::vector<std::string> exe_args(args.begin() + 3, args.end());
  asio::io_context ctx;
  auto samples = time_each(warmup, n, [&] {
    if (const int code = spawn_and_wait(ctx, exe, exe_args); code != 0) {
      throw std::runtime_error(fmt::format("{} exited with {}", exe.string(), code));
    }
  });
  boost::json::object out;
  out["samples_ns"] = boost::json::array(samples.begin(), samples.end());
  out["rss_bytes"] = resident_bytes();
  std::printf("%s\n", boost::json::serialize(out).c_str());
  return 0;
}

// --- Python peers ----------------------------------------------------------

void peer_py_threadpool_roundtrip(Report& report, const SuiteOptions& options) {
  record_python_peer(report, options, "core", "py_threadpool_roundtrip", "threadpool_peer.py", "roundtrip",
                     pick(options, 20'000, 5'000), pick(options, 500, 100));
}

void peer_py_threadpool_throughput(Report& report, const SuiteOptions& options) {
  record_python_peer(report, options, "core", "py_threadpool_throughput", "threadpool_peer.py", "throughput",
                     pick(options, 200'000, 20'000), pick(options, 1'000, 200));
}

void peer_py_mp_pool_roundtrip(Report& report, const SuiteOptions& options) {
  record_python_peer(report, options, "python", "py_mp_pool_roundtrip", "mp_pool_peer.py", "roundtrip",
                     pick(options, 5'000, 1'000), pick(options, 200, 50));
}

void peer_py_mp_pool_throughput(Report& report, const SuiteOptions& options) {
  record_python_peer(report, options, "python", "py_mp_pool_throughput", "mp_pool_peer.py", "throughput",
                     pick(options, 50'000, 10'000), pick(options, 500, 100));
}

void peer_python_startup(Report& report, const SuiteOptions& options) {
  if (!have_python(report, options, "python", "python_startup")) return;
  const std::size_t n = pick(options, 20, 10);
  progress(fmt::format("peer python_startup: {} runs of {} -I -c pass from a small child", n, options.python));
  report.peer("python_startup", spawn_from_small_child(options, options.python, {"-I", "-c", "pass"}, n, 2));
}

void peer_py_env_python_startup(Report& report, const SuiteOptions& options, const std::string& env_python) {
  const std::size_t n = pick(options, 20, 10);
  progress(fmt::format("peer py_env_python_startup: {} runs of {} -I -c pass from a small child", n, env_python));
  report.peer("py_env_python_startup", spawn_from_small_child(options, env_python, {"-I", "-c", "pass"}, n, 2));
}

void peer_py_loky_roundtrip(Report& report, const SuiteOptions& options) {
  record_library_peer(report, options, "py_loky_roundtrip", "joblib", "python3-joblib", "loky_peer.py", "roundtrip",
                      pick(options, 5'000, 500), pick(options, 100, 20));
}

void peer_py_loky_throughput(Report& report, const SuiteOptions& options) {
  record_library_peer(report, options, "py_loky_throughput", "joblib", "python3-joblib", "loky_peer.py", "throughput",
                      pick(options, 50'000, 5'000), pick(options, 500, 100));
}

// Both rows from one cluster: starting and stopping one takes seconds.
void peer_py_dask(Report& report, const SuiteOptions& options) {
  const std::string python = library_python(report, options, "py_dask_roundtrip and py_dask_throughput", "distributed",
                                            "python3-distributed");
  if (python.empty()) return;
  const std::size_t n = pick(options, 500, 100), n_throughput = pick(options, 20'000, 1'000);
  progress(fmt::format("peer py_dask_roundtrip and py_dask_throughput: {} and {} ops via dask_peer.py with {}", n,
                       n_throughput, python));
  const boost::json::object result =
      run_python_script(options, python, "dask_peer.py", "both", n, pick(options, 20, 5),
                        {std::to_string(n_throughput), std::to_string(pick(options, 200, 50))});
  record_library_row(report, options, "py_dask_roundtrip", python, measurement_of(result.at("roundtrip").as_object()));
  record_library_row(report, options, "py_dask_throughput", python,
                     measurement_of(result.at("throughput").as_object()));
}

void peer_py_subprocess(Report& report, const SuiteOptions& options) {
  record_python_peer(report, options, "venv", "py_subprocess", "subprocess_peer.py", "small",
                     pick(options, 200, 50), pick(options, 20, 5));
}

// Few samples, as for process_spawn_big_driver: each start may be slow from
// a process this big.
void peer_py_subprocess_big(Report& report, const SuiteOptions& options) {
  record_python_peer(report, options, "venv", "py_subprocess_big", "subprocess_peer.py", "big",
                     pick(options, 20, 10), 2);
}

void peer_venv_plain(Report& report, const SuiteOptions& options) {
  if (!have_python(report, options, "venv", "venv_plain")) return;
  const std::size_t warmup = 1, runs = pick(options, 7, 3);
  progress(fmt::format("peer venv_plain: {} runs of {} -m venv --without-pip", runs, options.python));
  TempDir tmp;
  std::vector<std::int64_t> samples;
  for (std::size_t i = 0; i < warmup + runs; ++i) {
    const fs::path env = tmp.path() / fmt::format("env-{}", i);
    const auto start = clock::now();
    run_checked(options.python, {"-m", "venv", "--without-pip", env.string()}, 120s);
    const auto stop = clock::now();
    if (i >= warmup) samples.push_back(elapsed_ns(start, stop));
    fs::remove_all(env);
  }
  report.peer("venv_plain", latency_from_samples(std::move(samples)));
}

void peer_pip_install_one_wheel(Report& report, const SuiteOptions& options) {
  if (!have_python(report, options, "venv", "pip_install_one_wheel")) return;
  const ChildResult check = run_child(options.python, {"-I", python_script("wheel_tools.py")}, ChildStdout::capture, 60s);
  if (check.exit_code != 0) {
    throw std::runtime_error(fmt::format("{} wheel_tools.py exited with {}", options.python, check.exit_code));
  }
  std::vector<std::string> missing;
  const boost::json::object verdict = parse_child_json(check, "wheel_tools.py");
  for (const auto& m : verdict.at("missing").as_array()) {
    missing.emplace_back(m.as_string().c_str());
  }
  if (!missing.empty()) {
    report.skip("venv-peers", fmt::format("pip_install_one_wheel: {} in {}", fmt::join(missing, "; "), options.python));
    return;
  }

  TempDir tmp;
  const fs::path wheels = tmp.path() / "wheels";
  progress("peer pip_install_one_wheel: building the fray_bench_probe wheel");
  build_probe_wheel(options.python, wheels);

  const std::size_t warmup = pick(options, 1, 0), runs = pick(options, 5, 2);
  std::vector<std::int64_t> samples;
  for (std::size_t i = 0; i < warmup + runs; ++i) {
    progress(fmt::format("peer pip_install_one_wheel: {} {}/{}", i < warmup ? "warm-up" : "run",
                         i < warmup ? i + 1 : i - warmup + 1, i < warmup ? warmup : runs));
    const fs::path env = tmp.path() / fmt::format("env-{}", i);
    run_checked(options.python, {"-m", "venv", "--without-pip", env.string()}, 120s);
    const auto start = clock::now();
    run_checked(options.python,
                {"-m", "pip", "--python", (env / "bin" / "python").string(), "install", "--no-index", "--find-links",
                 wheels.string(), "--no-deps", "--no-cache-dir", "--disable-pip-version-check", "-q",
                 "fray_bench_probe"},
                300s);
    const auto stop = clock::now();
    if (i >= warmup) samples.push_back(elapsed_ns(start, stop));
    fs::remove_all(env);
  }
  report.peer("pip_install_one_wheel", latency_from_samples(std::move(samples)));
}

fs::path build_probe_wheel(const std::string& python, const fs::path& out_dir) {
  const ChildResult r =
      run_child(python, {"-I", python_script("make_wheel.py"), out_dir.string()}, ChildStdout::capture, 120s);
  std::string wheel = r.out;
  while (!wheel.empty() && (wheel.back() == '\n' || wheel.back() == '\r')) wheel.pop_back();
  if (r.exit_code != 0 || !fs::is_regular_file(wheel)) {
    throw std::runtime_error(fmt::format("{} make_wheel.py {} exited with {} and made no wheel", python,
                                         out_dir.string(), r.exit_code));
  }
  return wheel;
}

std::string default_python() {
  const auto found = bp::environment::find_executable("python3");
  if (found.empty()) return {};
  const std::string on_path = fs::absolute(found.string()).string();
  // A pyenv shim or wrapper script costs a shell start on every run; ask the
  // interpreter where it really is. Not canonicalized: a venv's bin/python3
  // is a symlink that must stay one, or it stops being that venv.
  try {
    const ChildResult r = run_child(on_path, {"-I", "-c", "import sys; print(sys.executable)"}, ChildStdout::capture, 30s);
    std::string exe = r.out;
    while (!exe.empty() && (exe.back() == '\n' || exe.back() == '\r')) exe.pop_back();
    if (r.exit_code == 0 && fs::path(exe).is_absolute()) return exe;
  } catch (const std::exception&) {
    // Fall back to the path as found.
  }
  return on_path;
}

std::string resolve_python(const std::string& name_or_path) {
  if (name_or_path.find('/') == std::string::npos) {
    const auto found = bp::environment::find_executable(name_or_path);
    return found.empty() ? std::string() : fs::absolute(found.string()).string();
  }
  const fs::path path = fs::absolute(name_or_path);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec) || ::access(path.c_str(), X_OK) != 0) return {};
  return path.string();
}

}  // namespace fray::bench
