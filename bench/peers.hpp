// The peers of docs/bench-contract.md: what a user would pick instead of fray,
// measured in the same run. Each records one row under its contract name with
// report.peer(...); none of them needs fray.
#pragma once

#include "report.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace fray::bench {

// C++ peers.
void peer_std_async_roundtrip(Report& report, const SuiteOptions& options);
void peer_asio_post_roundtrip(Report& report, const SuiteOptions& options);
void peer_asio_cospawn_throughput(Report& report, const SuiteOptions& options);
// From a fresh fray-bench child (--spawn-peer), whatever size this one has grown to.
void peer_process_spawn(Report& report, const SuiteOptions& options);

// oneTBB (bench/peers_tbb.cpp) and CAF (bench/peers_caf.cpp): each is skipped,
// saying why, in a build where Meson did not find the library.
void peer_tbb_task_group_roundtrip(Report& report, const SuiteOptions& options);
void peer_tbb_enqueue_roundtrip(Report& report, const SuiteOptions& options);
void peer_tbb_throughput(Report& report, const SuiteOptions& options);
void peer_tbb_nested_roundtrip(Report& report, const SuiteOptions& options);
void peer_caf_request_roundtrip(Report& report, const SuiteOptions& options);
void peer_caf_throughput(Report& report, const SuiteOptions& options);
// Names `peer` skipped in `area`, for a build without `library` (its Debian
// `package`; `meson_looked_for` says what Meson did not find), or one under
// ThreadSanitizer, which cannot see the library's synchronization.
void skip_library_peer(Report& report, std::string_view area, std::string_view peer, std::string_view library,
                       std::string_view package, std::string_view meson_looked_for);

// The child side of fray-bench --spawn-peer N WARMUP EXE [ARG]...: spawns and
// reaps EXE N times after WARMUP, prints {"samples_ns": [...], "rss_bytes": R}.
int spawn_peer_child(const std::vector<std::string>& args);

// Python peers: they run `options.python`. With no interpreter they record
// nothing and report.skip("<area>-peers", why) instead.
void peer_py_threadpool_roundtrip(Report& report, const SuiteOptions& options);
void peer_py_threadpool_throughput(Report& report, const SuiteOptions& options);
void peer_py_mp_pool_roundtrip(Report& report, const SuiteOptions& options);
void peer_py_mp_pool_throughput(Report& report, const SuiteOptions& options);
void peer_python_startup(Report& report, const SuiteOptions& options);
// `env_python -I -c pass`: the interpreter of the env fray's workers run in.
void peer_py_env_python_startup(Report& report, const SuiteOptions& options, const std::string& env_python);
// joblib's loky and Dask's distributed: run with the first of options.python
// and /usr/bin/python3 that can import them (the row names it when it is not
// options.python); skipped as "python-peers" when neither can.
void peer_py_loky_roundtrip(Report& report, const SuiteOptions& options);
void peer_py_loky_throughput(Report& report, const SuiteOptions& options);
// py_dask_roundtrip and py_dask_throughput, from one cluster.
void peer_py_dask(Report& report, const SuiteOptions& options);
void peer_venv_plain(Report& report, const SuiteOptions& options);
// subprocess.run(["true"]) from a small Python process, and from one holding
// 4 GiB (the peers of venv_run_true and process_spawn_big_driver).
void peer_py_subprocess(Report& report, const SuiteOptions& options);
void peer_py_subprocess_big(Report& report, const SuiteOptions& options);
// Skips as "venv-peers" when the interpreter lacks pip >= 22.3 (for --python).
void peer_pip_install_one_wheel(Report& report, const SuiteOptions& options);

// Writes the fray_bench_probe wheel into `out_dir` with `python` and the
// standard library only (bench/python/make_wheel.py); its path. Throws
// std::runtime_error when none was made.
std::filesystem::path build_probe_wheel(const std::string& python, const std::filesystem::path& out_dir);

// `python3` on PATH resolved to the interpreter it really runs (a pyenv shim or
// wrapper script is asked for its sys.executable), as an absolute path; empty
// if there is none.
std::string default_python();

// An interpreter named on the command line: a name without a slash is looked
// up on PATH, a path is made absolute. Empty if that is not an executable file.
std::string resolve_python(const std::string& name_or_path);

}  // namespace fray::bench
