// The `fray` command line, driven from a shell as a user would: help, usage
// errors, run (stdio, exit status, signals, timeouts), venv create, path,
// list, gc and rm, and failed builds.
#include "test_support.hpp"
#include "venv_test_support.hpp"

using namespace fray_test;

namespace {

ShellResult fray_shell(const fs::path& cache, const std::string& args) { return shell(fray_command(cache, args)); }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Every file and directory under `dir` with its size and mtime: what a
// command that writes nothing leaves as it was.
std::vector<std::string> tree_listing(const fs::path& dir) {
  std::vector<std::string> listing;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return {"(no " + dir.string() + ")"};
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    const auto size = it->is_regular_file(ec) ? fs::file_size(path, ec) : 0;
    const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
    listing.push_back(fmt::format("{} {} {}", fs::relative(path, dir, ec).string(), size, mtime));
  }
  std::sort(listing.begin(), listing.end());
  return listing;
}

// The version in meson.build's project(): what `fray --version` must print.
std::string project_version() {
  const std::string build = read_text(fs::path(FRAY_SOURCE_DIR) / "meson.build");
  const auto at = build.find("version : '");
  REQUIRE(at != std::string::npos);
  const auto start = at + std::string("version : '").size();
  return build.substr(start, build.find('\'', start) - start);
}

// A usage error: exit status 2, one line on stderr that names `option`.
void check_usage_error(const ShellResult& result, const std::string& option) {
  CHECK(result.status == 2);
  CHECK(count_lines(result.err) == 1);
  CHECK(contains(result.err, option));
  CHECK(result.out.empty());
}

// Jobs a test submits by mistake land here, not in the user's jobs.
std::string with_jobs_dir(const fs::path& dir, const std::string& command) {
  return fmt::format("FRAY_CLUSTER_SPEC={} {}", shell_quote("local?dir=" + dir.string()), command);
}

}  // namespace

TEST_CASE("fray --help and each command's --help explain every option") {
  TempDir cache;
  const ShellResult main_help = fray_shell(cache.path(), "--help");
  CHECK(main_help.status == 0);
  for (const char* text : {"run", "venv", "FRAY_CACHE_DIR"}) CHECK(contains(main_help.out, text));

  const std::vector<std::string> env_options = {"--package", "--requirements", "--find-links", "--index-url",
                                                "--extra-index-url", "--no-index", "--system-site-packages",
                                                "--python", "--installer", "--setup-timeout", "--env", "--inherit-env"};
  const ShellResult run_help = fray_shell(cache.path(), "run --help");
  CHECK(run_help.status == 0);
  for (const auto& option : env_options) CHECK_MESSAGE(contains(run_help.out, option), option);
  for (const char* option : {"--timeout", "--quiet", "exit status", "minimal", "all", "none"}) CHECK(contains(run_help.out, option));

  const ShellResult venv_help = fray_shell(cache.path(), "venv --help");
  CHECK(venv_help.status == 0);
  for (const char* sub : {"create", "path", "list", "gc", "rm"}) CHECK(contains(venv_help.out, sub));

  for (const char* sub : {"create", "path"}) {
    const ShellResult help = fray_shell(cache.path(), fmt::format("venv {} --help", sub));
    CHECK(help.status == 0);
    for (const auto& option : env_options) CHECK_MESSAGE(contains(help.out, option), sub << " " << option);
  }
  CHECK(contains(fray_shell(cache.path(), "venv gc --help").out, "--max-size"));
  CHECK(contains(fray_shell(cache.path(), "venv gc --help").out, "--older-than"));
  CHECK(contains(fray_shell(cache.path(), "venv list --help").out, "usage: fray venv list"));
  CHECK(contains(fray_shell(cache.path(), "venv rm --help").out, "usage: fray venv rm KEY"));
  CHECK(entries(cache.path()).empty());  // help builds nothing
}

TEST_CASE("a usage error exits 2 with a one-line message") {
  TempDir cache;
  for (const char* args : {"", "bogus", "run", "run --python", "run --bogus -- true", "run --env NOEQUALS -- true",
                           "run --inherit-env some -- true", "run --timeout soon -- true", "run --no-index=yes -- true",
                           "venv", "venv bogus", "venv create extra", "venv gc --max-size lots",
                           "venv gc --older-than -1", "venv rm", "venv list --all", "run --installer conda -- true"}) {
    CAPTURE(args);
    const ShellResult result = fray_shell(cache.path(), args);
    CHECK(result.status == 2);
    CHECK(count_lines(result.err) == 1);
    CHECK(contains(result.err, "--help"));
    CHECK(result.out.empty());
  }
}

TEST_CASE("fray venv create prints the env's path, and fray venv path finds it once built") {
  TempDir cache;
  const std::string options = probe_cli_options(1);
  const ShellResult before = fray_shell(cache.path(), "venv path " + options);
  CHECK(before.status == 1);
  CHECK(before.out.empty());

  const ShellResult created = fray_shell(cache.path(), "venv create " + options);
  INFO(created.err);
  REQUIRE(created.status == 0);
  const std::string path = trimmed(created.out);
  CHECK(count_lines(created.out) == 1);
  CHECK(fs::exists(fs::path(path) / "bin" / "python"));
  CHECK(path == (venv_root(cache.path()) / "envs" / fray::IsolatedVirtualEnv::key_of(probe_options(cache.path(), 1))).string());

  const ShellResult found = fray_shell(cache.path(), "venv path " + options);
  CHECK(found.status == 0);
  CHECK(trimmed(found.out) == path);
  // Env vars are not part of what the env is.
  CHECK(trimmed(fray_shell(cache.path(), "venv path --env A=B " + options).out) == path);
  const ShellResult again = fray_shell(cache.path(), "venv create " + options);
  CHECK(trimmed(again.out) == path);
  CHECK(builds_of(cache.path(), fs::path(path).filename().string()) == 1);
}

TEST_CASE("fray run runs a command in the env with stdio passed through and its exit status as fray's") {
  const fs::path& cache = shared_cache();
  const std::string options = probe_cli_options(1) + " --quiet";
  const ShellResult printed = shell("echo hello | " + fray_command(cache, "run " + options +
                                    " -- python -c 'import sys, fray_probe; print(sys.stdin.read().strip().upper(), "
                                    "fray_probe.__version__); print(\"to stderr\", file=sys.stderr)'"));
  INFO(printed.err);
  CHECK(printed.status == 0);
  CHECK(printed.out == "HELLO 1.0\n");
  CHECK(printed.err == "to stderr\n");

  CHECK(fray_shell(cache, "run " + options + " -- python -c 'raise SystemExit(7)'").status == 7);
  CHECK(fray_shell(cache, "run " + options + " -- sh -c 'kill -KILL $$'").status == 128 + 9);
  // Without "--": the command starts at the first argument that is not an option.
  CHECK(fray_shell(cache, "run " + options + " sh -c 'exit 5'").status == 5);

  const ShellResult vars = shell("FRAY_TEST_SECRET=hunter2 " +
                                 fray_command(cache, "run " + options + " --env FRAY_TEST_OWN=mine -- sh -c "
                                                     "'echo ${FRAY_TEST_SECRET:-unset} $FRAY_TEST_OWN'"));
  CHECK(trimmed(vars.out) == "unset mine");
  const ShellResult all = shell("FRAY_TEST_SECRET=hunter2 " +
                                fray_command(cache, "run " + options + " --inherit-env all -- sh -c 'echo $FRAY_TEST_SECRET'"));
  CHECK(trimmed(all.out) == "hunter2");
}

TEST_CASE("fray run stops a command at --timeout, reports a missing command, and passes signals on") {
  const fs::path& cache = shared_cache();
  const std::string options = fmt::format("--python {} --quiet", kSystemPython);
  const ShellResult timed_out = fray_shell(cache, "run " + options + " --timeout 0.3 -- sleep 30");
  CHECK(timed_out.status == 124);
  CHECK(contains(timed_out.err, "did not finish"));

  const ShellResult missing = fray_shell(cache, "run " + options + " -- fray-no-such-command");
  CHECK(missing.status == 127);
  CHECK(contains(missing.err, "command not found"));

  // SIGTERM to fray reaches the command, whose own exit status fray returns.
  TempDir dir;
  const fs::path ready = dir / "ready";
  const ShellResult forwarded = shell(fmt::format(
      "{} & pid=$!; while [ ! -e {} ]; do sleep 0.02; done; kill -TERM $pid; wait $pid",
      fray_command(cache, "run " + options + " -- sh -c " +
                              shell_quote(fmt::format("trap 'echo got TERM; exit 5' TERM; touch {}; "
                                                      "while :; do sleep 0.05; done", ready.string()))),
      ready.string()));
  CHECK(forwarded.status == 5);
  CHECK(trimmed(forwarded.out) == "got TERM");
}

TEST_CASE("a failed build exits non-zero and prints the installer's last lines") {
  TempDir cache;
  const std::string options = fmt::format("--python {} --no-index --find-links {} --package fray_no_such_package", kSystemPython,
                                          shell_quote(test_wheels().v1.string()));
  const ShellResult created = fray_shell(cache.path(), "venv create " + options);
  CHECK(created.status == 1);
  CHECK(contains(created.err, "No matching distribution found for fray-no-such-package"));
  CHECK(contains(created.err, "exited with status 1"));
  CHECK(created.out.empty());

  const ShellResult ran = fray_shell(cache.path(), "run --quiet " + options + " -- true");
  CHECK(ran.status == 125);
  CHECK(contains(ran.err, "No matching distribution found"));

  const ShellResult invalid = fray_shell(cache.path(), "run --package 'fray_probe==' -- true");
  CHECK(invalid.status == 125);
  CHECK(contains(invalid.err, "invalid requirement"));
  CHECK(no_partial_env(cache.path()));
  CHECK(entries(venv_root(cache.path()) / "envs").empty());
}

TEST_CASE("fray venv list, rm and gc look after the cache") {
  TempDir cache;
  const ShellResult empty_list = fray_shell(cache.path(), "venv list");
  CHECK(empty_list.status == 0);
  CHECK(empty_list.out.empty());

  const ShellResult with_probe = fray_shell(cache.path(), "venv create --quiet " + probe_cli_options(1));
  const ShellResult plain = fray_shell(cache.path(), fmt::format("venv create --quiet --python {}", kSystemPython));
  REQUIRE(with_probe.status == 0);
  REQUIRE(plain.status == 0);
  const std::string probe_key = fs::path(trimmed(with_probe.out)).filename().string();
  const std::string plain_key = fs::path(trimmed(plain.out)).filename().string();

  const ShellResult listed = fray_shell(cache.path(), "venv list");
  CHECK(listed.status == 0);
  CHECK(count_lines(listed.out) == 3);  // a header and two envs
  CHECK(contains(listed.out, probe_key));
  CHECK(contains(listed.out, plain_key));
  CHECK(contains(listed.out, "fray_probe==1.0"));
  CHECK(contains(listed.out, "KiB"));

  const ShellResult removed = fray_shell(cache.path(), "venv rm " + probe_key.substr(0, 10));
  CHECK(removed.status == 0);
  CHECK_FALSE(fs::exists(trimmed(with_probe.out)));
  const ShellResult unknown = fray_shell(cache.path(), "venv rm " + probe_key);
  CHECK(unknown.status == 1);
  CHECK(contains(unknown.err, "no env"));

  {
    // An env in use is kept by gc and refused by rm.
    fray::IsolatedVirtualEnv in_use(venv_options(cache.path()));
    CHECK(in_use.key() == plain_key);
    const ShellResult kept = fray_shell(cache.path(), "venv gc --older-than 0");
    CHECK(kept.status == 0);
    CHECK(contains(kept.out, "kept 1 in use"));
    CHECK(fs::exists(in_use.python()));
    CHECK(fray_shell(cache.path(), "venv rm " + plain_key).status == 1);
  }
  const ShellResult collected = fray_shell(cache.path(), "venv gc --older-than 0");
  CHECK(collected.status == 0);
  CHECK(contains(collected.out, "removed 1 env"));
  CHECK(entries(venv_root(cache.path()) / "envs").empty());
  CHECK(fray_shell(cache.path(), "venv gc --max-size 10G").status == 0);
}

TEST_CASE("every duration option takes 100 years or more as never and refuses zero, negatives and words with exit 2") {
  TempDir cache, jobs;
  const std::vector<std::string> seconds_options = {
      "run --timeout {} -- true",           "run --setup-timeout {} -- true",
      "call --timeout {} math:sqrt 4",      "call --setup-timeout {} math:sqrt 4",
      "venv create --setup-timeout {}",     "venv path --setup-timeout {}",
      "job submit --setup-timeout {} -- true", "job wait --timeout {} some-job"};
  for (const std::string& pattern : seconds_options) {
    for (const char* value : {"0", "-1", "-0.5", "soon", "nan", "-inf", "1e-400"}) {
      const std::string args = fmt::format(fmt::runtime(pattern), value);
      CAPTURE(args);
      const ShellResult result = shell(with_jobs_dir(jobs.path(), fray_command(cache.path(), args)));
      check_usage_error(result, pattern.substr(pattern.find("--"), pattern.find(' ', pattern.find("--")) - pattern.find("--")));
      CHECK(contains(result.err, "100 years"));  // the limit, named
    }
  }
  for (const char* pattern : {"venv gc --older-than {}", "job gc --older-than {}"}) {
    for (const char* value : {"-1", "-0.001", "week", "nan"}) {
      const std::string args = fmt::format(fmt::runtime(pattern), value);
      CAPTURE(args);
      const ShellResult result = shell(with_jobs_dir(jobs.path(), fray_command(cache.path(), args)));
      check_usage_error(result, "--older-than");
      CHECK(contains(result.err, "100 years"));
    }
  }
  CHECK(entries(jobs.path()).empty());  // nothing was submitted
}

TEST_CASE("fray run and fray call with a timeout of 1e10 or 1e18 seconds do not fire at once") {
  Watchdog watchdog("huge timeouts", std::chrono::seconds(300));
  const fs::path& cache = shared_cache();
  const std::string options = fmt::format("--python {} --quiet", kSystemPython);
  for (const char* timeout : {"1e10", "1e18", "3155760000", "1e400", "inf"}) {
    const std::string shown_timeout = timeout;
    CAPTURE(shown_timeout);
    const ShellResult ran =
        fray_shell(cache, fmt::format("run {} --timeout {} -- sh -c 'sleep 0.2; echo finished'", options, timeout));
    CHECK(ran.status == 0);
    CHECK(ran.out == "finished\n");
    CHECK_FALSE(contains(ran.err, "-"));  // no "within -9223372036854775 ms"
    const ShellResult called = fray_shell(cache, fmt::format("call {} --timeout {} math:sqrt 4", options, timeout));
    CHECK(called.status == 0);
    CHECK(trimmed(called.out) == "2E0");
  }
  // A setup timeout that large builds, rather than timing out at once.
  TempDir fresh;
  const ShellResult built = fray_shell(fresh.path(), fmt::format("venv create {} --setup-timeout 1e18", options));
  INFO(built.err);
  CHECK(built.status == 0);
  CHECK(fs::exists(fs::path(trimmed(built.out)) / "bin" / "python"));
}

TEST_CASE("fray venv gc --older-than 90000 removes no env that was just used, and sizes past 8E are usage errors") {
  TempDir cache;
  const ShellResult created = fray_shell(cache.path(), fmt::format("venv create --quiet --python {}", kSystemPython));
  REQUIRE(created.status == 0);
  const fs::path env = trimmed(created.out);
  for (const char* days : {"90000", "36525", "1e300", "1e400"}) {
    const std::string shown_days = days;
    CAPTURE(shown_days);
    const ShellResult gc = fray_shell(cache.path(), fmt::format("venv gc --older-than {}", days));
    CHECK(gc.status == 0);
    CHECK(contains(gc.out, "removed 0 env"));
    CHECK(fs::exists(env / "bin" / "python"));
  }
  for (const char* size : {"17000000T", "9E", "16EiB", "99999999999999999999999"}) {
    const std::string shown_size = size;
    CAPTURE(shown_size);
    const ShellResult gc = fray_shell(cache.path(), fmt::format("venv gc --max-size {}", size));
    check_usage_error(gc, "--max-size");
    CHECK(contains(gc.err, "8E"));
  }
  const ShellResult largest = fray_shell(cache.path(), "venv gc --max-size 8E");
  CHECK(largest.status == 0);
  CHECK(contains(largest.out, "removed 0 env"));
  CHECK(fs::exists(env / "bin" / "python"));
}

TEST_CASE("sizes and counts of fray job past their limits, or zero where it means nothing, are usage errors naming the limit") {
  TempDir cache, jobs;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"submit --ram 17000000T -- true", "8E"},         {"submit --ram 0 -- true", "above 0"},
      {"submit --disk 9E -- true", "8E"},               {"submit --disk 0 -- true", "above 0"},
      {"submit --ram -1 -- true", "--ram"},             {"submit --replicas 0 -- true", "1000000"},
      {"submit --replicas 1000001 -- true", "1000000"}, {"submit --replicas 99999999999999999999 -- true", "1000000"},
      {"submit --cpu 0 -- true", "--cpu"},              {"submit --cpu 1e400 -- true", "1000000"},
      {"submit --cpu -2 -- true", "--cpu"},             {"submit --gpu 0 -- true", "1024"},
      {"submit --gpu 1025 -- true", "1024"},            {"submit --max-retries -1 -- true", "1000000"},
      {"submit --max-retries 1000001 -- true", "1000000"}, {"submit --max-retries-preemption 5000000 -- true", "1000000"},
      {"logs some-job --replica -1", "1000000"}};
  for (const auto& [args, limit] : cases) {
    CAPTURE(args);
    const ShellResult result = shell(with_jobs_dir(jobs.path(), fray_command(cache.path(), "job " + args)));
    check_usage_error(result, args.substr(args.find("--"), args.find(' ', args.find("--")) - args.find("--")));
    CHECK(contains(result.err, limit));
  }
  // The cluster spec's numbers too: a usage error, not a failure.
  for (const char* spec : {"local?ram=17000000T", "local?ram=0", "local?cpu=0", "local?cpu=1e400", "local?gpu=-1"}) {
    const std::string shown_spec = spec;
    CAPTURE(shown_spec);
    const ShellResult result = fray_shell(cache.path(), fmt::format("job list --cluster '{}&dir={}'", spec, jobs.path().string()));
    CHECK(result.status == 2);
    CHECK(contains(result.err, spec + std::string(spec).find('?') + 1));
  }
  CHECK(entries(jobs.path()).empty());  // nothing was submitted
}

TEST_CASE("an index URL holding a space is a usage error (exit 2) for fray run, call, venv create and venv path") {
  TempDir cache;
  const std::string options = fmt::format("--python {} --index-url 'http://user:s3cret@host/my index'", kSystemPython);
  for (const std::string& command : {"run " + options + " -- true", "call " + options + " math:sqrt 4",
                                    "venv create " + options, "venv path " + options}) {
    CAPTURE(command);
    const ShellResult result = fray_shell(cache.path(), command);
    CHECK(result.status == 2);
    CHECK(contains(result.err, "http://user:****@host/my index' holds whitespace"));
    CHECK_FALSE(contains(result.err, "s3cret"));
  }
}

TEST_CASE("a bad --env name is a usage error that names --env, not a C++ field") {
  TempDir cache, jobs;
  const std::string python = fmt::format("--python {}", kSystemPython);
  for (const char* pair : {"PYTHONSTARTUP=x", "PYTHONHOME=/x", "RAY_ADDRESS=auto", "CONDA_PREFIX=/x", "'A B=1'", "1X=2",
                           "'X-Y=3'", "=v"}) {
    for (const std::string& command : {"run " + python + " --env {} -- true", "call " + python + " --env {} math:sqrt 4",
                                      "venv create " + python + " --env {}", "venv path " + python + " --env {}"}) {
      const std::string args = fmt::format(fmt::runtime(command), pair);
      CAPTURE(args);
      const ShellResult result = fray_shell(cache.path(), args);
      check_usage_error(result, "--env");
      CHECK_FALSE(contains(result.err, "::"));  // VenvOptions::env is no option of fray's
    }
  }
  // A job's variables need only be names (without an env option, RAY_* is fine).
  for (const char* pair : {"'A B=1'", "1X=2", "=v"}) {
    const std::string shown_pair = pair;
    CAPTURE(shown_pair);
    const ShellResult result =
        shell(with_jobs_dir(jobs.path(), fray_command(cache.path(), fmt::format("job submit --env {} -- true", pair))));
    check_usage_error(result, "--env");
  }
  CHECK(entries(jobs.path()).empty());
  CHECK(entries(venv_root(cache.path()) / "envs").empty());
}

TEST_CASE("fray run exits 126 and 127 as the shell does, 128+N for a signal and 124 for a timeout") {
  Watchdog watchdog("fray run exit statuses", std::chrono::seconds(120));
  const fs::path& cache = shared_cache();
  const std::string run = fmt::format("run --python {} --quiet -- ", kSystemPython);
  TempDir dir;
  const fs::path text = dir / "notes.txt";
  write_text(text, "echo not a program\n");  // no execute permission
  fs::create_directory(dir / "subdir");

  const ShellResult empty = fray_shell(cache, run + "''");
  CHECK(empty.status == 127);
  CHECK(contains(empty.err, "command not found"));
  const ShellResult not_executable = fray_shell(cache, run + shell_quote(text.string()));
  CHECK(not_executable.status == 126);
  CHECK(contains(not_executable.err, text.string()));
  CHECK(fray_shell(cache, run + shell_quote((dir / "subdir").string())).status == 126);
  CHECK(fray_shell(cache, run + "fray-no-such-command").status == 127);
  CHECK(fray_shell(cache, run + shell_quote((dir / "missing").string())).status == 127);
  CHECK(fray_shell(cache, run + "sh -c 'kill -KILL $$'").status == 137);
  CHECK(fray_shell(cache, run + "sh -c 'kill -TERM $$'").status == 128 + 15);
  CHECK(fray_shell(cache, fmt::format("run --python {} --quiet --timeout 0.2 -- sleep 30", kSystemPython)).status == 124);
  // What the shell itself says for the same commands.
  CHECK(shell("''").status == 127);
  CHECK(shell(shell_quote(text.string())).status == 126);
}

TEST_CASE("fray venv path writes nothing in the cache, whether or not the cache exists yet") {
  TempDir root;
  const fs::path fresh = root / "not-yet";
  const std::string spec = fmt::format("--python {} --no-index --find-links {} --package fray_probe==2.0", kSystemPython,
                                       shell_quote(test_wheels().v2.string()));
  const ShellResult absent = fray_shell(fresh, "venv path " + spec);
  CHECK(absent.status == 1);
  CHECK_FALSE(fs::exists(fresh));

  const fs::path cache = root / "used";
  REQUIRE(fray_shell(cache, fmt::format("venv create --quiet --python {}", kSystemPython)).status == 0);
  const std::vector<std::string> before = tree_listing(cache);
  CHECK(fray_shell(cache, "venv path " + spec).status == 1);
  CHECK(fray_shell(cache, "venv path " + probe_cli_options(1)).status == 1);
  CHECK(tree_listing(cache) == before);
}

TEST_CASE("fray venv rm with a key prefix prints the whole key it removed") {
  TempDir cache;
  const ShellResult created = fray_shell(cache.path(), fmt::format("venv create --quiet --python {}", kSystemPython));
  REQUIRE(created.status == 0);
  const std::string key = fs::path(trimmed(created.out)).filename().string();
  const ShellResult removed = fray_shell(cache.path(), "venv rm " + key.substr(0, 8));
  CHECK(removed.status == 0);
  CHECK(removed.out == "removed " + key + "\n");
  CHECK(entries(venv_root(cache.path()) / "envs").empty());
}

TEST_CASE("fray venv rm and list say permission denied, not in use, when this user may not lock the env") {
  TempDir cache;
  const ShellResult created = fray_shell(cache.path(), fmt::format("venv create --quiet --python {}", kSystemPython));
  REQUIRE(created.status == 0);
  const std::string key = fs::path(trimmed(created.out)).filename().string();
  const fs::path locks = venv_root(cache.path()) / "locks";
  const fs::path lock = locks / (key + ".lock");
  REQUIRE(fs::exists(lock));
  // A lock file this user can read and not write, as `sudo fray` leaves one
  // in a user's cache. Root may open anything: the cache becomes nobody's,
  // its lock file stays root's, and fray runs as nobody. Another user makes
  // its own lock file read-only.
  std::string as_other;
  if (::getuid() == 0) {
    REQUIRE(shell(fmt::format("chown -R 65534:65534 {} && chown 0:0 {} && chmod 644 {}", shell_quote(cache.path().string()),
                              shell_quote(lock.string()), shell_quote(lock.string())))
                .status == 0);
    as_other = "cd / && setpriv --reuid=65534 --regid=65534 --clear-groups env ";
  } else {
    fs::permissions(lock, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  }
  const ShellResult listed = shell(as_other + fray_command(cache.path(), "venv list"));
  CHECK(listed.status == 0);
  CHECK(contains(listed.out, key));
  CHECK(contains(listed.out, " no "));  // IN USE: nobody holds it
  const ShellResult removed = shell(as_other + fray_command(cache.path(), "venv rm " + key));
  CHECK(removed.status == 125);
  CHECK(contains(removed.err, "Permission denied"));
  CHECK(contains(removed.err, lock.string()));
  CHECK_FALSE(contains(removed.err, "in use"));
  CHECK(fs::exists(venv_root(cache.path()) / "envs" / key));
  fs::permissions(lock, fs::perms::owner_read | fs::perms::owner_write);
}

TEST_CASE("fray --version prints the project's version and exits 0") {
  TempDir cache;
  const ShellResult version = fray_shell(cache.path(), "--version");
  CHECK(version.status == 0);
  CHECK(version.out == "fray " + project_version() + "\n");
  CHECK(version.err.empty());
  check_usage_error(fray_shell(cache.path(), "--version extra"), "extra");
}

TEST_CASE("every fray command's --help ends with the one exit status table") {
  TempDir cache;
  for (const char* args : {"--help", "run --help", "call --help", "venv --help", "venv create --help", "venv path --help",
                           "venv list --help", "venv gc --help", "venv rm --help", "job --help", "job submit --help",
                           "job call --help", "job status --help", "job logs --help", "job wait --help", "job stop --help",
                           "job list --help", "job gc --help"}) {
    const std::string shown_args = args;
    CAPTURE(shown_args);
    const ShellResult help = fray_shell(cache.path(), args);
    CHECK(help.status == 0);
    for (const char* row : {"exit status (the same for every fray command)", "  0 ", "  1 ", "  2 ", "  124 ", "  125 ",
                            "  126 ", "  127 ", "  128+N "}) {
      CHECK_MESSAGE(contains(help.out, row), row);
    }
  }
  CHECK(entries(cache.path()).empty());
}
