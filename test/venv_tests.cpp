// Isolated envs: packages, env vars, the cache (hits, keys, concurrent and
// killed builders, gc), bad input, and running processes (exit codes,
// signals, timeouts, output, cancel, no zombies or fd leaks). Offline: the
// packages are wheels built at test time from test/python_packages.
#include "test_support.hpp"
#include "venv_test_support.hpp"

#include <cmath>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>

#include <ctime>

#include <fray/detail/line_splitter.hpp>
#include <fray/detail/process_runner.hpp>
#include <fray/detail/sha256.hpp>
#include <fray/duration_limit.hpp>

#include <fstream>
#include <mutex>

using namespace fray_test;
using fray::InheritEnv;
using fray::IsolatedVirtualEnv;
using fray::RunOptions;
using fray::VenvOptions;
using namespace std::chrono_literals;

extern char** environ;

namespace {

// Sets an environment variable for one scope (before an env is opened: the
// env takes its snapshot of the environment then).
struct ScopedEnvVar {
  std::string name;
  ScopedEnvVar(std::string key, const std::string& value) : name(std::move(key)) { ::setenv(name.c_str(), value.c_str(), 1); }
  ~ScopedEnvVar() { ::unsetenv(name.c_str()); }
};

std::string run_python(const IsolatedVirtualEnv& env, const std::string& code) {
  const fray::ProcessResult result = env.run({"python", "-c", code}).get();
  INFO("stderr: " << result.err);
  REQUIRE(result.exit_code == 0);
  return trimmed(result.out);
}

// A coroutine task (parameters by value: no capturing coroutine lambdas).
fray::Task<std::string> probe_version(const IsolatedVirtualEnv* env) {
  // One simple co_await per statement (g++ 12 mishandles temporaries in them).
  std::vector<std::string> argv{std::string("python"), std::string("-c"),
                                std::string("import fray_probe; print(fray_probe.__version__)")};
  fray::Future<fray::ProcessResult> running = env->run(std::move(argv));
  fray::ProcessResult result = co_await std::move(running);
  co_return trimmed(result.out);
}

bool lines_contain(const std::vector<std::string>& lines, const std::string& text) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) { return line.find(text) != std::string::npos; });
}

// Starts `fray ARGS` without waiting; the pid is fray's own.
pid_t spawn_fray(const fs::path& cache, const std::string& args) {
  const std::string command =
      fmt::format("exec env FRAY_CACHE_DIR={} {} {} >/dev/null 2>&1", shell_quote(cache.string()), shell_quote(kFrayCli), args);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) == 0);
  return pid;
}

}  // namespace

// --- packages and env vars ---------------------------------------------------

TEST_CASE("a package installed into an env is importable there and not outside it") {
  IsolatedVirtualEnv with_probe(probe_options(shared_cache(), 1));
  CHECK(run_python(with_probe, "import fray_probe; print(fray_probe.__version__)") == "1.0");
  CHECK(run_python(with_probe, "import sys; print(sys.prefix)") == with_probe.path().string());

  IsolatedVirtualEnv empty(venv_options(shared_cache()));
  CHECK(empty.run({"python", "-c", "import fray_probe"}).get().exit_code != 0);
  const ShellResult outside = shell(fmt::format("{} -I -c 'import fray_probe'", kSystemPython));
  CHECK(outside.status != 0);
}

TEST_CASE("two envs with two versions of one package, used at once from one driver, each see their own") {
  IsolatedVirtualEnv one(probe_options(shared_cache(), 1));
  IsolatedVirtualEnv two(probe_options(shared_cache(), 2));
  CHECK(one.key() != two.key());
  fray::Runtime runtime(options_for(fray::ContextKind::threads));
  std::vector<fray::Future<std::string>> versions;
  for (int i = 0; i < 3; ++i) {
    versions.push_back(runtime.context().run(probe_version, &one));
    versions.push_back(runtime.context().run(probe_version, &two));
  }
  for (std::size_t i = 0; i < versions.size(); ++i) CHECK(versions[i].get() == (i % 2 == 0 ? "1.0" : "2.0"));
}

TEST_CASE("an env's own vars are seen and a parent's secret is not, under the default policy") {
  ScopedEnvVar secret("FRAY_TEST_SECRET", "hunter2");
  ScopedEnvVar pythonpath("PYTHONPATH", "/nowhere");
  ScopedEnvVar ray("RAY_ADDRESS", "auto");
  const std::string show =
      "import os; print(os.environ.get('FRAY_TEST_SECRET'), os.environ.get('FRAY_TEST_OWN'), "
      "os.environ.get('PYTHONPATH'), os.environ.get('RAY_ADDRESS'), os.environ.get('PYTHONNOUSERSITE'), "
      "os.environ['PATH'].split(':')[0] == os.path.join(os.environ['VIRTUAL_ENV'], 'bin'))";

  IsolatedVirtualEnv minimal(venv_options(shared_cache()).with_env("FRAY_TEST_OWN", "mine"));
  CHECK(run_python(minimal, show) == "None mine None None 1 True");
  const auto vars = minimal.child_environment();
  CHECK(std::none_of(vars.begin(), vars.end(), [](const std::string& v) { return v.starts_with("FRAY_TEST_SECRET="); }));

  IsolatedVirtualEnv all(venv_options(shared_cache()).with_env("FRAY_TEST_OWN", "mine").with_inherit_env(InheritEnv::all));
  CHECK(run_python(all, show) == "hunter2 mine None None 1 True");
  CHECK(minimal.key() == all.key());  // env vars are not part of the key

  IsolatedVirtualEnv none(venv_options(shared_cache()).with_env("PYTHONPATH", "/mine").with_inherit_env(InheritEnv::none));
  CHECK(run_python(none, "import os; print(os.environ.get('HOME'), os.environ['PYTHONPATH'])") == "None /mine");

  // A run's own vars win over the env's.
  const auto result = minimal.run({"sh", "-c", "echo $FRAY_TEST_OWN"}, RunOptions{}.with_env("FRAY_TEST_OWN", "run")).get();
  CHECK(trimmed(result.out) == "run");

  CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(shared_cache()).with_env("PYTHONHOME", "/usr")), fray::InvalidOptions);
  CHECK_THROWS_AS(minimal.run({"true"}, RunOptions{}.with_env("CONDA_PREFIX", "/x")).get(), fray::InvalidOptions);
}

// --- the cache ---------------------------------------------------------------

TEST_CASE("the second open is a cache hit that runs no installer") {
  TempDir cache;
  std::vector<std::string> first_progress, second_progress;
  std::mutex lines;
  auto record = [&lines](std::vector<std::string>* into) {
    return [&lines, into](std::string_view line) {
      std::lock_guard guard(lines);
      into->emplace_back(line);
    };
  };
  std::string key;
  {
    IsolatedVirtualEnv first(probe_options(cache.path(), 1).with_progress(record(&first_progress)));
    CHECK(first.built_now());
    key = first.key();
  }
  IsolatedVirtualEnv second(probe_options(cache.path(), 1).with_progress(record(&second_progress)));
  CHECK_FALSE(second.built_now());
  CHECK(second.key() == key);
  CHECK(builds_of(cache.path(), key) == 1);
  CHECK(lines_contain(first_progress, "Successfully installed"));
  CHECK(second_progress.empty());
  CHECK(run_python(second, "import fray_probe; print(fray_probe.__version__)") == "1.0");
  CHECK(IsolatedVirtualEnv::find(probe_options(cache.path(), 1)) == second.path());
  CHECK_FALSE(IsolatedVirtualEnv::find(probe_options(cache.path(), 2)).has_value());
}

TEST_CASE("an env opened by its built key needs none of its package options, and a key not built is an EnvNotBuilt") {
  TempDir cache;
  std::string key;
  {
    IsolatedVirtualEnv built(probe_options(cache.path(), 1).with_env("PROBE_VAR", "seen"));
    key = built.key();
  }
  // What a Slurm replica gets: the interpreter, the variables, the key.
  const VenvOptions by_key = venv_options(cache.path()).with_env("PROBE_VAR", "seen").with_built_key(key);
  IsolatedVirtualEnv opened(by_key);
  CHECK(opened.key() == key);
  CHECK_FALSE(opened.built_now());
  CHECK(run_python(opened, "import fray_probe, os; print(fray_probe.__version__, os.environ['PROBE_VAR'])") == "1.0 seen");
  CHECK(IsolatedVirtualEnv::find(by_key) == opened.path());
  CHECK(IsolatedVirtualEnv::key_of(by_key) == key);
  CHECK(builds_of(cache.path(), key) == 1);

  const std::string missing(32, 'a');
  CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(cache.path()).with_built_key(missing)), fray::EnvNotBuilt);
  CHECK_FALSE(IsolatedVirtualEnv::find(venv_options(cache.path()).with_built_key(missing)).has_value());
  CHECK_FALSE(fs::exists(venv_root(cache.path()) / "envs" / missing));
  for (const char* bad : {"../../etc", "ABCDEF0123456789ABCDEF0123456789", "abc"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(cache.path()).with_built_key(bad)), fray::InvalidOptions);
  }
}

TEST_CASE("a changed local wheel with the same file name gives a new key") {
  TempDir cache, links;
  const fs::path wheel = links / test_wheels().v1_wheel.filename().string();
  fs::copy_file(test_wheels().v1_wheel, wheel);
  const VenvOptions options = venv_options(cache.path()).with_package("fray_probe").with_no_index().with_find_links(links.path().string());
  const std::string before = IsolatedVirtualEnv::key_of(options);

  // Rewritten with the same bytes: the same key.
  fs::copy_file(test_wheels().v1_wheel, wheel, fs::copy_options::overwrite_existing);
  CHECK(IsolatedVirtualEnv::key_of(options) == before);

  // Other bytes under the same name: another key.
  fs::copy_file(test_wheels().v2_wheel, wheel, fs::copy_options::overwrite_existing);
  CHECK(IsolatedVirtualEnv::key_of(options) != before);
}

TEST_CASE("keys and content hashes are SHA-256") {
  CHECK(fray::detail::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(fray::detail::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(fray::detail::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  TempDir dir;
  const fs::path million = dir.path() / "million";
  std::ofstream(million) << std::string(1000000, 'a');
  CHECK(fray::detail::sha256_file_hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK_THROWS_AS(fray::detail::sha256_file_hex(dir.path() / "missing"), std::system_error);
}

TEST_CASE("the key covers what changes the files, and not env vars or the order of requirements") {
  TempDir cache;
  const VenvOptions base = venv_options(cache.path()).with_no_index().with_find_links(test_wheels().v1.string());
  const std::string key = IsolatedVirtualEnv::key_of(VenvOptions(base).with_packages({"fray_probe==1.0", "wheel"}));
  CHECK(IsolatedVirtualEnv::key_of(VenvOptions(base).with_packages({"wheel", "Fray.Probe == 1.0"})) == key);
  CHECK(IsolatedVirtualEnv::key_of(VenvOptions(base).with_packages({"wheel", "fray_probe==1.0"}).with_env("A", "1")) == key);
  CHECK(IsolatedVirtualEnv::key_of(VenvOptions(base).with_packages({"fray_probe==1.0"})) != key);
  CHECK(IsolatedVirtualEnv::key_of(VenvOptions(base).with_packages({"fray_probe==1.0", "wheel"}).with_system_site_packages()) != key);
  CHECK(IsolatedVirtualEnv::key_of(VenvOptions(base).with_packages({"fray_probe==1.0", "wheel"}).with_no_index(false)) != key);
  CHECK(IsolatedVirtualEnv::key_of(VenvOptions(base).with_packages({"fray_probe==1.0", "wheel"}).with_index_url("https://mirror.example/simple")) != key);
  CHECK(key.size() == 32);
  CHECK(builds_of(cache.path(), key) == 0);  // key_of builds nothing
}

TEST_CASE("a requirements file gives the same env as the same requirements given as options") {
  TempDir cache, files;
  write_text(files / "base.txt", "fray_probe==1.0  # the probe\n");
  write_text(files / "requirements.txt",
             fmt::format("--no-index\n-f {}\n-r base.txt\n\n# nothing else\n", test_wheels().v1.string()));
  const VenvOptions from_file = venv_options(cache.path()).with_requirements_file(files / "requirements.txt");
  CHECK(IsolatedVirtualEnv::key_of(from_file) == IsolatedVirtualEnv::key_of(probe_options(cache.path(), 1)));
  IsolatedVirtualEnv env(from_file);
  CHECK(run_python(env, "import fray_probe; print(fray_probe.__version__)") == "1.0");
}

TEST_CASE("eight processes building the same new env at once make one build and eight working envs") {
  TempDir cache;
  const ShellResult runs = shell(fmt::format(
      "for i in 1 2 3 4 5 6 7 8; do {} > {}/out.$i 2>&1 & done; wait",
      fray_command(cache.path(), "run " + probe_cli_options(1) + " --quiet -- python -c 'import fray_probe, sys; print(fray_probe.__version__, sys.prefix)'"),
      cache.path().string()));
  REQUIRE(runs.status == 0);
  const std::string key = IsolatedVirtualEnv::key_of(probe_options(cache.path(), 1));
  const std::string expected = "1.0 " + (venv_root(cache.path()) / "envs" / key).string();
  for (int i = 1; i <= 8; ++i) CHECK(trimmed(read_text(cache / fmt::format("out.{}", i))) == expected);
  CHECK(builds_of(cache.path(), key) == 1);
  CHECK(entries(venv_root(cache.path()) / "envs") == std::vector<std::string>{key});
  CHECK(no_partial_env(cache.path()));
}

TEST_CASE("a builder killed with SIGKILL mid-build leaves nothing that stops the next open from rebuilding cleanly") {
  TempDir cache;
  const std::string key = IsolatedVirtualEnv::key_of(probe_options(cache.path(), 1));
  const pid_t builder = spawn_fray(cache.path(), "venv create " + probe_cli_options(1));
  const fs::path log = venv_root(cache.path()) / "logs" / (key + ".log");
  // Killed while pip installs.
  const bool installing = eventually([&] { return read_text(log).find("installing 1 requirement") != std::string::npos; },
                                     std::chrono::seconds(60));
  ::kill(builder, SIGKILL);
  int status = 0;
  ::waitpid(builder, &status, 0);
  REQUIRE(installing);
  CHECK(WIFSIGNALED(status));
  CHECK_FALSE(IsolatedVirtualEnv::find(probe_options(cache.path(), 1)).has_value());
  // Its installer dies with it (PR_SET_PDEATHSIG).
  CHECK(eventually([&] { return processes_mentioning(venv_root(cache.path()).string()) == 0; }));

  IsolatedVirtualEnv env(probe_options(cache.path(), 1));
  CHECK(env.built_now());
  CHECK(builds_of(cache.path(), key) == 2);
  CHECK(run_python(env, "import fray_probe; print(fray_probe.__version__)") == "1.0");
  CHECK(no_partial_env(cache.path()));
}

TEST_CASE("the installer is uv when it is on PATH, and pip when asked for") {
  // A stand-in uv that records its calls and does the work with pip, so the
  // selection is tested while pip really installs.
  TempDir cache, bin;
  const fs::path calls = bin / "calls";
  write_text(bin / "uv", fmt::format(R"SH(#!/bin/sh
echo "$*" >> {calls}
case "$1" in
  --version) echo "uv 0.0.0 (fray test stand-in)" ;;
  venv) shift; py=python3; args=""
        while [ $# -gt 0 ]; do case "$1" in --python) py=$2; shift 2 ;; *) args="$args $1"; shift ;; esac; done
        exec "$py" -m venv --without-pip $args ;;
  pip) shift 2; target=$2; shift 2
       exec {python} -m pip --python "$target" install --disable-pip-version-check "$@" ;;
esac
)SH", fmt::arg("calls", calls.string()), fmt::arg("python", kSystemPython)));
  fs::permissions(bin / "uv", fs::perms::owner_all);
  const std::string path = fmt::format("PATH={}:$PATH ", shell_quote(bin.path().string()));

  const ShellResult with_uv = shell(path + fray_command(cache.path(), "run --quiet " + probe_cli_options(1) +
                                                            " -- python -c 'import fray_probe; print(fray_probe.__version__)'"));
  INFO(with_uv.err);
  CHECK(with_uv.status == 0);
  CHECK(trimmed(with_uv.out) == "1.0");
  const std::string uv_calls = read_text(calls);
  CHECK(uv_calls.find("--version") != std::string::npos);
  CHECK(uv_calls.find("venv --python") != std::string::npos);
  CHECK(uv_calls.find("pip install --python") != std::string::npos);
  const auto envs = entries(venv_root(cache.path()) / "envs");
  REQUIRE(envs.size() == 1);
  CHECK(read_text(venv_root(cache.path()) / "envs" / envs[0] / "fray-env.json").find("uv 0.0.0") != std::string::npos);

  // Asked for pip: uv is not even asked its version, and the env is another.
  fs::remove(calls);
  const ShellResult with_pip = shell(path + fray_command(cache.path(), "venv create --quiet --installer pip " + probe_cli_options(1)));
  CHECK(with_pip.status == 0);
  CHECK_FALSE(fs::exists(calls));
  CHECK(entries(venv_root(cache.path()) / "envs").size() == 2);

  // Asked for uv where there is none (this process's PATH has no uv).
  CHECK_THROWS_AS(IsolatedVirtualEnv(probe_options(cache.path(), 1).with_installer(fray::Installer::uv)), fray::InstallerNotFound);
}

TEST_CASE("the default interpreter is python3 on PATH, resolved to the interpreter it runs") {
  TempDir cache;
  IsolatedVirtualEnv env(VenvOptions{}.with_cache_dir(cache.path()));
  const std::string real = run_python(env, "import sys, os; print(os.path.realpath(sys._base_executable))");
  const auto metadata = read_text(env.path() / "fray-env.json");
  CHECK(metadata.find(real) != std::string::npos);
}

// --- bad input -------------------------------------------------------------

TEST_CASE("an unknown package is a PackageNotFound naming the command, its status and pip's last lines") {
  TempDir cache;
  const VenvOptions options = venv_options(cache.path()).with_package("fray_no_such_package").with_no_index().with_find_links(
      test_wheels().v1.string());
  try {
    IsolatedVirtualEnv env(options);
    FAIL("the build should have failed");
  } catch (const fray::PackageNotFound& e) {
    CHECK(e.exit_status() == 1);
    CHECK(lines_contain(e.command(), "pip"));
    CHECK(lines_contain(e.last_lines(), "No matching distribution found for fray-no-such-package"));
    CHECK(std::string(e.what()).find("No matching distribution") != std::string::npos);
    CHECK(fs::exists(e.log()));
  }
  CHECK(no_partial_env(cache.path()));
  CHECK(entries(venv_root(cache.path()) / "envs").empty());
  CHECK_FALSE(IsolatedVirtualEnv::find(options).has_value());
}

TEST_CASE("a malformed requirement is an InvalidRequirement, and nothing is built") {
  TempDir cache;
  for (const char* bad : {"fray_probe==", "fray probe", "==1.0", "fray_probe>=1,,<2", "fray_probe[extra", "-e .",
                          "fray_probe; python_version >", "fray_probe; os_nam == 'posix'", "fray_probe===",
                          "fray_probe @ not-a-url", "fray_probe==1.*.2", "./no/such/wheel.whl", ""}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(cache.path()).with_package(bad)), fray::InvalidRequirement);
  }
  for (const char* good : {"fray_probe", "Fray.Probe[x, y] >= 1.0, < 2 ; python_version >= '3.8' and os_name == 'posix'",
                           "fray_probe (==1.0)", "fray_probe==1.0.*", "fray_probe @ https://example.com/p.whl"}) {
    CAPTURE(good);
    CHECK_NOTHROW(IsolatedVirtualEnv::key_of(venv_options(cache.path()).with_package(good)));
  }
  TempDir files;
  write_text(files / "requirements.txt", "fray_probe\n--frobnicate\n");
  CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(cache.path()).with_requirements_file(files / "requirements.txt")),
                  fray::InvalidRequirement);
  CHECK(entries(venv_root(cache.path()) / "envs").empty());
  CHECK(no_partial_env(cache.path()));
}

TEST_CASE("a missing interpreter is an InterpreterNotFound") {
  TempDir cache, files;
  CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(cache.path()).with_python("/nonexistent/python3")), fray::InterpreterNotFound);
  CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(cache.path()).with_python("fray-no-such-python")), fray::InterpreterNotFound);
  // An executable that is not Python.
  write_text(files / "python", "#!/bin/sh\nexit 3\n");
  fs::permissions(files / "python", fs::perms::owner_all);
  CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(cache.path()).with_python((files / "python").string())), fray::InterpreterNotFound);
  CHECK(entries(venv_root(cache.path()) / "envs").empty());
  CHECK(no_partial_env(cache.path()));
}

TEST_CASE("a missing find-links directory is a FindLinksNotFound") {
  TempDir cache;
  CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(cache.path()).with_package("fray_probe").with_find_links((cache / "nowhere").string())),
                  fray::FindLinksNotFound);
  CHECK(entries(venv_root(cache.path()) / "envs").empty());
  CHECK(no_partial_env(cache.path()));
}

TEST_CASE("a missing requirements file is a RequirementsFileNotFound") {
  TempDir cache;
  CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(cache.path()).with_requirements_file(cache / "missing.txt")),
                  fray::RequirementsFileNotFound);
  CHECK(no_partial_env(cache.path()));
}

TEST_CASE("an unwritable cache directory is a CacheNotWritable") {
  TempDir dir;
  write_text(dir / "file", "not a directory\n");
  // Under a regular file: unwritable even for root.
  const fs::path under_file = dir / "file" / "cache";
  CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(under_file)), fray::CacheNotWritable);
  CHECK_FALSE(fs::exists(under_file));
  if (::geteuid() != 0) {
    fs::create_directory(dir / "readonly");
    fs::permissions(dir / "readonly", fs::perms::owner_read | fs::perms::owner_exec);
    CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(dir / "readonly")), fray::CacheNotWritable);
    CHECK(entries(dir / "readonly").empty());
  }
}

TEST_CASE("a setup timeout kills the installer and leaves no env behind") {
  TempDir cache;
  try {
    IsolatedVirtualEnv env(probe_options(cache.path(), 1).with_setup_timeout(300ms));
    FAIL("the build should have timed out");
  } catch (const fray::RuntimeEnvSetupTimeout& e) {
    CHECK(std::string(e.what()).find("timed out") != std::string::npos);
    CHECK_FALSE(e.command().empty());
  }
  CHECK(eventually([&] { return processes_mentioning(venv_root(cache.path()).string()) == 0; }));
  CHECK(entries(venv_root(cache.path()) / "envs").empty());
  CHECK(no_partial_env(cache.path()));
}

// --- running processes -------------------------------------------------------

TEST_CASE("run returns the exit code, or the signal that killed the process") {
  IsolatedVirtualEnv env(venv_options(shared_cache()));
  const auto exited = env.run({"sh", "-c", "exit 3"}).get();
  CHECK(exited.exit_code == 3);
  CHECK(exited.signal == 0);
  CHECK(exited.status() == 3);
  CHECK(exited.pid > 0);

  const auto killed = env.run({"sh", "-c", "kill -TERM $$"}).get();
  CHECK(killed.signal == SIGTERM);
  CHECK(killed.exit_code == -1);
  CHECK(killed.status() == 128 + SIGTERM);
  CHECK_FALSE(killed.ok());

  CHECK(env.run({"true"}).get().ok());
  CHECK_THROWS_AS(env.run({"sh", "-c", "exit 4"}, RunOptions{}.with_check()).get(), fray::ProcessFailed);
  CHECK_THROWS_AS(env.run({}).get(), fray::InvalidOptions);
}

TEST_CASE("a timeout kills the process group, grandchildren too, even those that ignore SIGTERM or left the group") {
  IsolatedVirtualEnv env(venv_options(shared_cache()));
  const RunOptions quick = RunOptions{}.with_timeout(300ms).with_kill_grace(200ms);
  SUBCASE("a grandchild in the group") {
    try {
      env.run({"sh", "-c", "sleep 30 & echo $!; wait"}, quick).get();
      FAIL("the run should have timed out");
    } catch (const fray::ProcessTimeout& e) {
      const int grandchild = std::atoi(e.result().out.c_str());
      REQUIRE(grandchild > 0);
      CHECK(eventually([grandchild] { return process_gone(grandchild); }));
      CHECK(e.result().signal == SIGTERM);
    }
  }
  SUBCASE("a grandchild that ignores SIGTERM") {
    try {
      env.run({"sh", "-c", "trap '' TERM; sleep 30 & echo $!; wait; wait"}, quick).get();
      FAIL("the run should have timed out");
    } catch (const fray::ProcessTimeout& e) {
      const int grandchild = std::atoi(e.result().out.c_str());
      REQUIRE(grandchild > 0);
      CHECK(eventually([grandchild] { return process_gone(grandchild); }));
    }
  }
  SUBCASE("a descendant in a session of its own") {
    try {
      env.run({"sh", "-c", "setsid sleep 30 & echo $!; wait"}, quick).get();
      FAIL("the run should have timed out");
    } catch (const fray::ProcessTimeout& e) {
      const int descendant = std::atoi(e.result().out.c_str());
      REQUIRE(descendant > 0);
      CHECK(eventually([descendant] { return process_gone(descendant); }));
    }
  }
}

TEST_CASE("output is captured, or streamed line by line, and input is written to stdin") {
  IsolatedVirtualEnv env(venv_options(shared_cache()));
  const auto captured = env.run({"sh", "-c", "echo out; echo err >&2; printf tail"}).get();
  CHECK(captured.out == "out\ntail");
  CHECK(captured.err == "err\n");

  std::mutex mutex;
  std::vector<std::string> out_lines, err_lines;
  const auto streamed = env.run({"python", "-c", "import sys\nfor i in range(3): print('line', i, flush=True)\n"
                                                 "print('oops', file=sys.stderr)\nsys.stdout.write('partial')"},
                                RunOptions{}
                                    .stream_stdout([&](std::string_view line) {
                                      std::lock_guard guard(mutex);
                                      out_lines.emplace_back(line);
                                    })
                                    .stream_stderr([&](std::string_view line) {
                                      std::lock_guard guard(mutex);
                                      err_lines.emplace_back(line);
                                    }))
                            .get();
  CHECK(streamed.ok());
  CHECK(streamed.out.empty());
  CHECK(out_lines == std::vector<std::string>{"line 0", "line 1", "line 2", "partial"});
  CHECK(err_lines == std::vector<std::string>{"oops"});

  const std::string big(200'000, 'x');
  const auto echoed = env.run({"cat"}, RunOptions{}.with_input(big)).get();
  CHECK(echoed.out == big);

  TempDir dir;
  const auto where = env.run({"pwd"}, RunOptions{}.with_cwd(dir.path())).get();
  CHECK(trimmed(where.out) == fs::canonical(dir.path()).string());

  const auto discarded = env.run({"sh", "-c", "echo gone"}, RunOptions{}.with_stdout(fray::Output::discard)).get();
  CHECK(discarded.out.empty());
}

TEST_CASE("output with no newline, like a progress bar, comes out in marked pieces of 64 KiB and is never held whole") {
  constexpr std::size_t kLimit = 64 << 10;
  const std::string marker = " [fray: line split at 65536 bytes]";
  fray::detail::LineSplitter splitter;
  std::vector<std::string> lines;
  const auto keep = [&](std::string_view line) { lines.emplace_back(line); };
  // tqdm redraws its bar with '\r' and never writes a '\n'.
  std::string chunk = "\r 12%|####      | 1234/10000 [00:01<00:07, 1111.11it/s]";
  chunk.resize(64, ' ');
  std::string fed, emitted;  // emitted: the pieces without their marker
  for (int i = 0; i < (8 << 20) / 64 + 1; ++i) {
    splitter.feed(chunk, keep);
    fed += chunk;
    for (const std::string& piece : lines) {
      REQUIRE(piece.size() == kLimit + marker.size());
      REQUIRE(piece.ends_with(marker));
      emitted += piece.substr(0, kLimit);
    }
    lines.clear();
    // What is held back for the line in progress stays under the limit.
    REQUIRE(fed.size() - emitted.size() <= kLimit);
  }
  splitter.finish(keep);
  REQUIRE(lines.size() == 1);
  CHECK(emitted + lines[0] == fed);  // nothing lost or repeated

  // A line of exactly the limit is whole; one byte more is split; '\r\n'
  // ends a line, and a line may span chunks.
  lines.clear();
  const std::string full(kLimit, 'a');
  splitter.feed(full + "\n" + full + "b\nc", keep);
  splitter.feed("d\r\ne", keep);
  splitter.finish(keep);
  CHECK(lines == std::vector<std::string>{full, full + marker, "b", "cd", "e"});
}

TEST_CASE("cancelling a run stops its process group, and closing the env stops its processes") {
  IsolatedVirtualEnv env(venv_options(shared_cache()));
  std::atomic<int> pid{0};
  auto running = env.run({"sh", "-c", "echo $$; exec sleep 30"}, RunOptions{}.with_kill_grace(200ms).stream_stdout([&pid](std::string_view line) {
    pid.store(std::atoi(std::string(line).c_str()));
  }));
  CHECK(eventually([&pid] { return pid.load() > 0; }));
  running.cancel();
  CHECK_THROWS_AS(running.get(), fray::TaskCancelled);
  CHECK(process_gone(pid.load()));

  auto left_running = env.run({"sleep", "30"}, RunOptions{}.with_kill_grace(200ms));
  env.close();
  CHECK_FALSE(env.is_open());
  CHECK(left_running.ready());
  CHECK_THROWS_AS(left_running.get(), fray::TaskCancelled);
  CHECK_THROWS_AS(env.run({"true"}).get(), fray::Error);
}

TEST_CASE("200 runs leave no zombie and no new file descriptor") {
  IsolatedVirtualEnv env(venv_options(shared_cache()));
  // The process thread's own descriptors exist after a first run.
  CHECK(env.run({"true"}).get().ok());
  const int fds_before = open_fds();
  CHECK(zombie_children() == 0);
  for (int i = 0; i < 200; ++i) {
    RunOptions options;
    if (i % 4 == 1) options.with_input("some input");
    if (i % 4 == 2) options.stream_stdout([](std::string_view) {});
    if (i % 50 == 3) options.with_timeout(1ms);
    try {
      env.run({i % 4 == 1 ? "cat" : "true"}, std::move(options)).get();
    } catch (const fray::ProcessTimeout&) {
    }
  }
  CHECK(zombie_children() == 0);
  CHECK(open_fds() == fds_before);
}

TEST_CASE("a child holds only its stdin, stdout and stderr, not a descriptor the driver left inheritable") {
  IsolatedVirtualEnv env(venv_options(shared_cache()));
  TempDir dir("fray-fds-");
  const std::string secret = (dir.path() / "driver-secret").string();
  write_text(secret, "");
  // Below and above the descriptors the launch itself uses.
  const int low = ::open(secret.c_str(), O_RDONLY);
  const int high = ::fcntl(low, F_DUPFD, 900);
  REQUIRE(low >= 0);
  REQUIRE(high >= 900);
  const char* list_fds =
      "import os\n"
      "for fd in sorted(os.listdir('/proc/self/fd'), key=int):\n"
      "    try: print(fd, os.readlink('/proc/self/fd/' + fd))\n"
      "    except OSError: pass  # the listing's own\n";
  const auto listing = env.run({"python", "-c", list_fds}).get();
  ::close(low);
  ::close(high);
  CHECK(listing.ok());
  CHECK(listing.out.find("driver-secret") == std::string::npos);
  std::vector<std::string> fds;
  std::istringstream lines(listing.out);
  for (std::string fd, target; lines >> fd >> target;) fds.push_back(fd);
  CHECK(fds == std::vector<std::string>{"0", "1", "2"});
}

// --- cache upkeep ------------------------------------------------------------

TEST_CASE("gc removes the least recently used envs past a size, those unused too long, and never one in use") {
  TempDir cache;
  auto set_last_use = [&](const std::string& key, std::int64_t seconds_ago) {
    const fs::path marker = venv_root(cache.path()) / "envs" / key / ".fray-complete";
    const timespec when{std::time(nullptr) - seconds_ago, 0};
    const timespec times[2] = {when, when};
    REQUIRE(::utimensat(AT_FDCWD, marker.c_str(), times, 0) == 0);
  };
  const VenvOptions plain = venv_options(cache.path());
  const VenvOptions system = venv_options(cache.path()).with_system_site_packages();
  const VenvOptions probe = probe_options(cache.path(), 1);
  std::string plain_key, system_key, probe_key;
  {
    IsolatedVirtualEnv a(plain), b(system), c(probe);
    plain_key = a.key();
    system_key = b.key();
    probe_key = c.key();
  }
  set_last_use(probe_key, 3 * 86400);
  set_last_use(system_key, 2 * 86400);
  set_last_use(plain_key, 1 * 86400);
  // Leftovers of an interrupted build and of an interrupted delete.
  fs::create_directories(venv_root(cache.path()) / "tmp" / (probe_key + ".abcdef") / "env");
  fs::create_directories(venv_root(cache.path()) / "envs" / std::string(32, 'a') / "bin");

  fray::VenvCache venvs(cache.path());
  const auto listed = venvs.list();
  REQUIRE(listed.size() == 3);
  CHECK(listed[0].key == plain_key);  // most recently used first
  CHECK(listed[2].key == probe_key);
  CHECK(listed[2].packages == std::vector<std::string>{"fray_probe==1.0"});
  CHECK(listed[2].size_bytes > listed[0].size_bytes);
  CHECK(listed[0].python.find("3.") != std::string::npos);

  {
    IsolatedVirtualEnv in_use(system);  // opening it also records a use now
    set_last_use(system_key, 4 * 86400);
    // Room for two: the least recently used one goes, except the one in use.
    const auto report = venvs.gc(fray::GcOptions{listed[0].size_bytes + listed[1].size_bytes, std::nullopt});
    CHECK(report.removed == std::vector<std::string>{probe_key});
    CHECK(report.skipped_in_use == std::vector<std::string>{system_key});
    CHECK(report.leftovers_removed == 2);
    CHECK(fs::exists(in_use.python()));
    CHECK(run_python(in_use, "print(1)") == "1");
    CHECK_THROWS_AS(venvs.remove(system_key), fray::EnvInUse);
  }
  CHECK(no_partial_env(cache.path()));
  CHECK(entries(venv_root(cache.path()) / "envs") == std::vector<std::string>{std::min(plain_key, system_key), std::max(plain_key, system_key)});

  const auto aged = venvs.gc(fray::GcOptions{std::nullopt, std::chrono::hours(36)});
  CHECK(aged.removed == std::vector<std::string>{system_key});
  CHECK(venvs.remove(plain_key.substr(0, 8)));
  CHECK_FALSE(venvs.remove(plain_key));
  CHECK(entries(venv_root(cache.path()) / "envs").empty());
  CHECK(entries(venv_root(cache.path()) / "locks").empty());
}

TEST_CASE("timeouts and ages of hours::max() mean never, and a negative one is an InvalidOptions") {
  Watchdog watchdog("never timeouts", std::chrono::seconds(300));
  IsolatedVirtualEnv env(venv_options(shared_cache()));
  const auto slept = env.run({"sh", "-c", "sleep 0.2; exit 3"}, RunOptions{}.with_timeout(std::chrono::hours::max())).get();
  CHECK(slept.exit_code == 3);
  RunOptions largest;
  largest.timeout = std::chrono::milliseconds::max();
  largest.kill_grace = std::chrono::milliseconds::max();
  CHECK(env.run({"sh", "-c", "sleep 0.2; exit 4"}, largest).get().exit_code == 4);
  CHECK_THROWS_AS(env.run({"true"}, RunOptions{}.with_timeout(-1s)).get(), fray::InvalidOptions);
  CHECK_THROWS_AS(RunOptions{}.with_timeout(std::chrono::duration<double>(std::nan(""))), fray::InvalidOptions);
  CHECK_THROWS_AS(fray::VenvOptions{}.with_setup_timeout(std::chrono::duration<double>(std::nan(""))), fray::InvalidOptions);

  TempDir cache;
  IsolatedVirtualEnv built(venv_options(cache.path()).with_setup_timeout(std::chrono::hours::max()));
  CHECK(built.built_now());
  CHECK_THROWS_AS(IsolatedVirtualEnv(venv_options(cache.path()).with_setup_timeout(-1s)), fray::InvalidOptions);

  fray::VenvCache venvs(cache.path());
  for (const auto age : {std::chrono::seconds::max(), std::chrono::duration_cast<std::chrono::seconds>(fray::never_duration),
                         std::chrono::seconds(90000LL * 86400)}) {
    const auto report = venvs.gc(fray::GcOptions{std::nullopt, age});
    CHECK(report.removed.empty());
  }
  CHECK_THROWS_AS(venvs.gc(fray::GcOptions{std::nullopt, -1s}), fray::InvalidOptions);
  CHECK(entries(venv_root(cache.path()) / "envs") == std::vector<std::string>{built.key()});
}

TEST_CASE("the README shows examples/isolated_env.cpp as its isolated env example") {
  const std::string readme = read_text(FRAY_SOURCE_DIR "/README.md");
  const std::string example = read_text(FRAY_SOURCE_DIR "/examples/isolated_env.cpp");
  CHECK_MESSAGE(readme.find("```cpp\n" + example + "```") != std::string::npos,
                "README.md must contain examples/isolated_env.cpp verbatim in a ```cpp block");
}
