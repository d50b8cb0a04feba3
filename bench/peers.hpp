// The peers of docs/bench-contract.md: what a user would pick instead of fray,
// measured in the same run. Each records one row under its contract name with
// report.peer(...); none of them needs fray.
#pragma once

#include "report.hpp"

#include <string>

namespace fray::bench {

// C++ peers.
void peer_std_async_roundtrip(Report& report, const SuiteOptions& options);
void peer_asio_post_roundtrip(Report& report, const SuiteOptions& options);
void peer_asio_cospawn_throughput(Report& report, const SuiteOptions& options);
void peer_process_spawn(Report& report, const SuiteOptions& options);

// Python peers: they run `options.python`. With no interpreter they record
// nothing and report.skip("<area>-peers", why) instead.
void peer_py_threadpool_roundtrip(Report& report, const SuiteOptions& options);
void peer_py_threadpool_throughput(Report& report, const SuiteOptions& options);
void peer_py_mp_pool_roundtrip(Report& report, const SuiteOptions& options);
void peer_py_mp_pool_throughput(Report& report, const SuiteOptions& options);
void peer_python_startup(Report& report, const SuiteOptions& options);
void peer_venv_plain(Report& report, const SuiteOptions& options);
// subprocess.run(["true"]) from a small Python process, and from one holding
// 4 GiB (the peers of venv_run_true and process_spawn_big_driver).
void peer_py_subprocess(Report& report, const SuiteOptions& options);
void peer_py_subprocess_big(Report& report, const SuiteOptions& options);
// Skips as "venv-peers" when the interpreter lacks pip (>= 22.3, for
// --python), setuptools or, for setuptools < 70.1, wheel.
void peer_pip_install_one_wheel(Report& report, const SuiteOptions& options);

// `python3` on PATH resolved to the interpreter it really runs (a pyenv shim or
// wrapper script is asked for its sys.executable), as an absolute path; empty
// if there is none.
std::string default_python();

// An interpreter named on the command line: a name without a slash is looked
// up on PATH, a path is made absolute. Empty if that is not an executable file.
std::string resolve_python(const std::string& name_or_path);

}  // namespace fray::bench
