// Shared by venv_tests.cpp and cli_tests.cpp: temporary directories, the
// test wheels (fray_probe 1.0 and 2.0, built once per test run from
// test/python_packages with Debian's python3), a shared cache for tests that
// do not inspect the cache, shell commands, and counting zombies and fds.
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <fray/detail/fs_util.hpp>
#include <fray/venv.hpp>

namespace fray_test {

namespace fs = std::filesystem;

// Debian's interpreter: it has pip, setuptools and wheel (the pyenv python3
// first on PATH on these machines has no wheel).
inline constexpr const char* kSystemPython = "/usr/bin/python3";
inline const std::string kFrayCli = FRAY_BUILD_DIR "/cli/fray";

using TempDir = fray::detail::TempDirectory;

inline std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::trunc);
  out << text;
}

inline std::string shell_quote(const std::string& word) {
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

struct ShellResult {
  int status = -1;  // as the shell reports it (128 + N for signal N)
  std::string out, err;
};

// Runs `command` with /bin/sh, capturing stdout and stderr.
inline ShellResult shell(const std::string& command) {
  TempDir tmp("fray-shell-");
  const fs::path out = tmp / "out", err = tmp / "err";
  const std::string full = fmt::format("( {} ) >{} 2>{} </dev/null", command, out.string(), err.string());
  const int raw = std::system(full.c_str());
  ShellResult result;
  if (raw != -1 && WIFEXITED(raw)) result.status = WEXITSTATUS(raw);
  if (raw != -1 && WIFSIGNALED(raw)) result.status = 128 + WTERMSIG(raw);
  result.out = read_text(out);
  result.err = read_text(err);
  return result;
}

inline std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

inline int count_lines(const std::string& text) { return int(std::count(text.begin(), text.end(), '\n')); }

// The two versions of fray_probe, each alone in a find-links directory.
struct TestWheels {
  TempDir dir{"fray-test-wheels-"};
  fs::path v1, v2;              // directories
  fs::path v1_wheel, v2_wheel;  // the files

  TestWheels() {
    for (int version : {1, 2}) {
      const std::string name = fmt::format("fray_probe_v{}", version);
      const fs::path src = dir / ("src-" + name), out = dir / fmt::format("w{}", version);
      // pip builds in the source tree: build from a copy.
      const fs::path packages = fs::path(FRAY_SOURCE_DIR) / "test" / "python_packages";
      fs::copy(packages / name, src, fs::copy_options::recursive);
      // The functions the worker tests call: the same in both versions, but
      // for the __version__ they report.
      fs::copy_file(packages / "fray_probe_shared" / "calls.py", src / "fray_probe" / "calls.py");
      const ShellResult built = shell(fmt::format(
          "{} -m pip wheel --no-build-isolation --no-deps --no-index --disable-pip-version-check -q -w {} {}",
          kSystemPython, out.string(), src.string()));
      if (built.status != 0) throw std::runtime_error("cannot build the test wheel " + name + ": " + built.err);
      (version == 1 ? v1 : v2) = out;
      (version == 1 ? v1_wheel : v2_wheel) = out / fmt::format("fray_probe-{}.0-py3-none-any.whl", version);
      if (!fs::exists(version == 1 ? v1_wheel : v2_wheel)) throw std::runtime_error("no wheel was built for " + name);
    }
  }
};

inline const TestWheels& test_wheels() {
  static TestWheels wheels;
  return wheels;
}

// A cache for tests that do not look at the cache itself, so the envs they
// use are built once per test run.
inline const fs::path& shared_cache() {
  static TempDir dir("fray-test-cache-");
  return dir.path();
}

// An env of the system interpreter, in `cache`.
inline fray::VenvOptions venv_options(const fs::path& cache) {
  return fray::VenvOptions{}.with_python(kSystemPython).with_cache_dir(cache);
}

// fray_probe `version` (1 or 2), installed offline.
inline fray::VenvOptions probe_options(const fs::path& cache, int version) {
  const TestWheels& wheels = test_wheels();
  return venv_options(cache)
      .with_package(fmt::format("fray_probe=={}.0", version))
      .with_no_index()
      .with_find_links((version == 1 ? wheels.v1 : wheels.v2).string());
}

inline fs::path venv_root(const fs::path& cache) { return cache / "venv"; }

inline std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// True when the cache holds no env without its completion marker and no
// build in progress or abandoned.
inline bool no_partial_env(const fs::path& cache) {
  for (const auto& name : entries(venv_root(cache) / "envs")) {
    if (!fs::exists(venv_root(cache) / "envs" / name / ".fray-complete")) return false;
  }
  return entries(venv_root(cache) / "tmp").empty();
}

// How many builds of `key` started (each writes one line to the env's log).
inline int builds_of(const fs::path& cache, const std::string& key) {
  const std::string log = read_text(venv_root(cache) / "logs" / (key + ".log"));
  int count = 0;
  for (std::size_t at = 0; (at = log.find("== fray: build " + key + " started", at)) != std::string::npos; ++at) ++count;
  return count;
}

// The state letter of /proc/PID/stat, or 0 when there is no such process.
inline char process_state(int pid) {
  const std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}

// The parent of `pid`, from /proc/PID/stat (its name may hold spaces), or
// -1 when there is no such process.
inline int parent_of(int pid) {
  const std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  char state = 0;
  int parent = -1;
  return std::sscanf(stat.c_str() + paren + 1, " %c %d", &state, &parent) == 2 ? parent : -1;
}

inline bool process_gone(int pid) {
  const char state = process_state(pid);
  return state == 0 || state == 'Z' || state == 'X';
}

// Children of this process that are zombies.
inline int zombie_children() {
  int zombies = 0;
  const int self = ::getpid();
  for (const auto& name : entries("/proc")) {
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    const std::string stat = read_text("/proc/" + name + "/stat");
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + paren + 1, " %c %d", &state, &ppid) == 2 && ppid == self && state == 'Z') ++zombies;
  }
  return zombies;
}

inline int open_fds() { return int(entries("/proc/self/fd").size()); }

// Processes whose command line mentions `text`.
inline int processes_mentioning(const std::string& text) {
  int count = 0;
  for (const auto& name : entries("/proc")) {
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::string cmdline = read_text("/proc/" + name + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (process_state(std::atoi(name.c_str())) != 'Z' && cmdline.find(text) != std::string::npos) ++count;
  }
  return count;
}

// `fray ARGS...` as a shell command with FRAY_CACHE_DIR set.
inline std::string fray_command(const fs::path& cache, const std::string& args) {
  return fmt::format("FRAY_CACHE_DIR={} {} {}", shell_quote(cache.string()), shell_quote(kFrayCli), args);
}

// The env options of probe_options as command-line options.
inline std::string probe_cli_options(int version) {
  const TestWheels& wheels = test_wheels();
  return fmt::format("--python {} --no-index --find-links {} --package fray_probe=={}.0", kSystemPython,
                     shell_quote((version == 1 ? wheels.v1 : wheels.v2).string()), version);
}

}  // namespace fray_test
