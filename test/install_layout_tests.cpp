// Where an installed fray finds its own files (fray/detail/install_layout.hpp):
// the real `fray` command copied into a prefix of its own, or out of any
// prefix, away from the build tree, as a user's install or program would be.
// (test/install/install_test.sh does the whole install: meson install, a
// moved prefix, programs built against it, the source tree hidden.)
#include "test_support.hpp"
#include "venv_test_support.hpp"

using namespace fray_test;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// fray_worker.py, marked: the worker it starts says it came from `where`
// (calls:env FRAY_TEST_WORKER_FROM), so a test knows which copy ran.
void install_marked_worker(const fs::path& file, const std::string& where) {
  fs::create_directories(file.parent_path());
  write_text(file, fmt::format("import os; os.environ['FRAY_TEST_WORKER_FROM'] = '{}'\n", where) +
                       read_text(fs::path(FRAY_SOURCE_DIR) / "pyworker" / "fray_worker.py"));
}

// `prefix` with bin/fray and libexec/fray/fray-child-guard from this build,
// and, when `with_worker`, a marked share/fray/fray_worker.py.
void install_fray(const fs::path& prefix, bool with_worker) {
  fs::create_directories(prefix / "bin");
  fs::create_directories(prefix / "libexec" / "fray");
  fs::copy_file(kFrayCli, prefix / "bin" / "fray");
  fs::copy_file(FRAY_BUILD_DIR "/venv/fray-child-guard", prefix / "libexec" / "fray" / "fray-child-guard");
  if (with_worker) install_marked_worker(prefix / "share" / "fray" / "fray_worker.py", "prefix");
}

// `fray call` with the probe env, nothing pointing it at its files but
// FRAY_PREFIX when given.
ShellResult call_env_of(const fs::path& fray, const std::string& fray_prefix = "") {
  std::string command = "env -u FRAY_WORKER_SCRIPT -u FRAY_CHILD_GUARD -u FRAY_JOB_SUPERVISOR -u FRAY_PREFIX ";
  if (!fray_prefix.empty()) command += "FRAY_PREFIX=" + shell_quote(fray_prefix) + " ";
  command += fmt::format("FRAY_CACHE_DIR={} {} call {} fray_probe.calls:env FRAY_TEST_WORKER_FROM",
                         shell_quote(shared_cache().string()), shell_quote(fray.string()), probe_cli_options(1));
  return shell(command);
}

}  // namespace

TEST_CASE("an installed fray finds its programs and worker under its prefix, wherever the prefix is") {
  Watchdog watchdog("fray call in a prefix of its own", std::chrono::seconds(300));
  TempDir prefix("fray-prefix-");
  install_fray(prefix.path(), true);
  const ShellResult called = call_env_of(prefix / "bin" / "fray");
  CAPTURE(called.err);
  CHECK(called.status == 0);
  CHECK(trimmed(called.out) == "\"prefix\"");
}

TEST_CASE("an installed fray without its worker program names where it looked, and prints nothing") {
  Watchdog watchdog("fray call without its worker", std::chrono::seconds(300));
  TempDir prefix("fray-prefix-");
  install_fray(prefix.path(), false);
  const ShellResult called = call_env_of(prefix / "bin" / "fray");
  CHECK(called.status == 1);
  CHECK(called.out.empty());
  CHECK(contains(called.err, fmt::format("fray: fray's Python worker program is not in {}; set FRAY_WORKER_SCRIPT "
                                         "to its path (or FRAY_PREFIX to fray's install prefix)",
                                         (fs::canonical(prefix.path()) / "share" / "fray" / "fray_worker.py").string())));
}

TEST_CASE("a fray outside any prefix and build tree says why it finds nothing, and FRAY_PREFIX gives it its files") {
  Watchdog watchdog("fray call outside its prefix", std::chrono::seconds(300));
  TempDir prefix("fray-prefix-"), elsewhere("fray-elsewhere-");
  install_fray(prefix.path(), true);
  const fs::path fray = fs::canonical(elsewhere.path()) / "fray";
  fs::copy_file(kFrayCli, fray);
  const ShellResult lost = call_env_of(fray);
  CHECK(lost.status == 1);
  CHECK(lost.out.empty());
  CHECK(contains(lost.err, fmt::format("program was not found ({} is neither in an install prefix's", fray.string())));
  CHECK(contains(lost.err, "nor in a Meson build tree); set FRAY_"));
  const ShellResult found = call_env_of(fray, prefix.path().string());
  CAPTURE(found.err);
  CHECK(found.status == 0);
  CHECK(trimmed(found.out) == "\"prefix\"");
}
