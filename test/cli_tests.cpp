// The `fray` command line, driven from a shell as a user would: help, usage
// errors, run (stdio, exit status, signals, timeouts), venv create, path,
// list, gc and rm, and failed builds.
#include "test_support.hpp"
#include "venv_test_support.hpp"

using namespace fray_test;

namespace {

ShellResult fray_shell(const fs::path& cache, const std::string& args) { return shell(fray_command(cache, args)); }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

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
