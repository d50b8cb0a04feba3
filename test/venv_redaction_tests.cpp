// Index credentials (issue 15): a password in --index-url or
// --extra-index-url reaches the installer, and nothing fray writes or prints
// holds it: not the build log, fray-env.json, the env's requirements file,
// error messages, progress, `fray venv list`, nor a job's files and output.
// The env key still tells two passwords apart.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include <fray/detail/url_redaction.hpp>

#include "test_support.hpp"
#include "venv_test_support.hpp"

using namespace fray_test;
using fray::detail::redact_text;
using fray::detail::redact_url;

namespace {

constexpr const char* kSecret = "s3cret";
// Nothing listens on port 1: pip warns that the index cannot be reached and
// installs from --find-links. PIP_RETRIES=0 makes that warning come at once.
constexpr const char* kDeadIndex = "http://user:s3cret@127.0.0.1:1/simple";
constexpr const char* kInstallerEnv = "PIP_RETRIES=0 PIP_TIMEOUT=5 ";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Every regular file under `dir` whose content holds `text`.
std::vector<std::string> files_holding(const fs::path& dir, const std::string& text) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec) && contains(read_text(it->path()), text)) {
      found.push_back(it->path().string());
    }
  }
  return found;
}

std::string dead_index_options(const std::string& package, int version = 1) {
  const TestWheels& wheels = test_wheels();
  return fmt::format("--python {} --index-url {} --find-links {} --package {}", kSystemPython, kDeadIndex,
                     shell_quote((version == 1 ? wheels.v1 : wheels.v2).string()), package);
}

ShellResult fray_shell(const fs::path& cache, const std::string& args) {
  return shell(kInstallerEnv + fray_command(cache, args));
}

// The only log of the cache (one build, one key).
std::string only_log(const fs::path& cache) {
  const auto logs = entries(venv_root(cache) / "logs");
  REQUIRE(logs.size() == 1);
  return read_text(venv_root(cache) / "logs" / logs.front());
}

// A package index on 127.0.0.1 that answers only requests carrying
// user:s3cret (HTTP basic auth), slowly, so a build spends a while talking
// to it; it serves the wheels of one directory.
constexpr std::string_view kIndexServer = R"PY(
import base64, http.server, os, sys, time
wheels, port_file = sys.argv[1], sys.argv[2]
expected = "Basic " + base64.b64encode(b"user:s3cret").decode()
class Index(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="fray test"')
            self.end_headers()
            return
        time.sleep(0.3)
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "simple":
            names = [f for f in os.listdir(wheels) if f.lower().replace("_", "-").startswith(parts[1] + "-")]
            body = "".join('<a href="/files/%s">%s</a>' % (f, f) for f in names).encode()
        elif len(parts) == 2 and parts[0] == "files":
            body = open(os.path.join(wheels, parts[1]), "rb").read()
        else:
            names, body = [], b""
        if not body:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream" if parts[0] == "files" else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
with open(port_file + ".tmp", "w") as out:
    out.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
)PY";

class AuthenticatedIndex {
 public:
  explicit AuthenticatedIndex(const fs::path& wheels) {
    write_text(dir_ / "index.py", std::string(kIndexServer));
    const std::string command = fmt::format("{} {} {} {} & echo $!", kSystemPython, (dir_ / "index.py").string(),
                                            shell_quote(wheels.string()), (dir_ / "port").string());
    pid_ = std::atoi(shell(command).out.c_str());
    REQUIRE(eventually([&] { return fs::exists(dir_ / "port"); }, std::chrono::seconds(20)));
    port_ = std::atoi(read_text(dir_ / "port").c_str());
  }
  ~AuthenticatedIndex() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }
  std::string url(const std::string& userinfo) const {
    return fmt::format("http://{}@127.0.0.1:{}/simple", userinfo, port_);
  }

 private:
  TempDir dir_{"fray-index-"};
  int pid_ = 0;
  int port_ = 0;
};

}  // namespace

// --- the redaction itself ----------------------------------------------------

TEST_CASE("redact_url hides a password and keeps the user, and hides a token alone") {
  CHECK(redact_url("https://user:pass@host/simple") == "https://user:****@host/simple");
  CHECK(redact_url("https://token@host/simple") == "https://****@host/simple");
  CHECK(redact_url("https://:pass@host:8080/simple") == "https://:****@host:8080/simple");
  CHECK(redact_url("HTTPS://User:Pass@Host/simple") == "HTTPS://User:****@Host/simple");
  CHECK(redact_url("git+https://user:pass@host/repo.git") == "git+https://user:****@host/repo.git");
  CHECK(redact_url("https://user:pass@host") == "https://user:****@host");
}

TEST_CASE("redact_url hides a password holding '@', ':', '?', '#' or percent-escapes whole") {
  CHECK(redact_url("https://user:p@ss:w@rd@host/simple") == "https://user:****@host/simple");
  CHECK(redact_url("https://user:a?b#c@host/simple") == "https://user:****@host/simple");
  CHECK(redact_url("https://us%40er:p%40ss%3A@host/simple") == "https://us%40er:****@host/simple");
  CHECK(redact_url("https://user:p%2Fss@host/simple") == "https://user:****@host/simple");
}

TEST_CASE("redact_url leaves URLs without credentials, paths and revisions after the path as they are") {
  CHECK(redact_url("https://pypi.org/simple") == "https://pypi.org/simple");
  CHECK(redact_url("https://host/repo.git@v1.0") == "https://host/repo.git@v1.0");
  CHECK(redact_url("/data/wheels@2024/x") == "/data/wheels@2024/x");
  CHECK(redact_url("./wheels@2024") == "./wheels@2024");
  CHECK(redact_url("file:///data/a@b/wheels") == "file:///data/a@b/wheels");
  CHECK(redact_url("") == "");
}

TEST_CASE("redact_url hides the userinfo of a URL written without a scheme") {
  CHECK(redact_url("user:pass@host.example/simple") == "user:****@host.example/simple");
  CHECK(redact_url("token@host.example") == "****@host.example");
  CHECK(redact_url("host.example/simple") == "host.example/simple");
}

TEST_CASE("redact_text hides the credentials of every URL in a line and nothing else") {
  CHECK(redact_text("Looking in indexes: https://a:b@one/simple, https://tok@two/simple") ==
        "Looking in indexes: https://a:****@one/simple, https://****@two/simple");
  CHECK(redact_text("--index-url=https://user:pass@host/simple") == "--index-url=https://user:****@host/simple");
  CHECK(redact_text("fray_probe @ https://tok@host/fray_probe-1.0-py3-none-any.whl") ==
        "fray_probe @ https://****@host/fray_probe-1.0-py3-none-any.whl");
  CHECK(redact_text("ERROR: 'https://user:pass@host' refused") == "ERROR: 'https://user:****@host' refused");
  CHECK(redact_text("pkg @ git+https://github.com/org/repo.git@main") == "pkg @ git+https://github.com/org/repo.git@main");
  CHECK(redact_text("mail me@example.org, see https://example.org") == "mail me@example.org, see https://example.org");
  CHECK(redact_text("no url here") == "no url here");
}

// --- builds ------------------------------------------------------------------

TEST_CASE("a build with an index password keeps it out of the cache and out of everything fray prints") {
  Watchdog watchdog("a build with an index password", std::chrono::seconds(180));
  TempDir cache;
  const ShellResult created = fray_shell(cache.path(), "venv create " + dead_index_options("fray_probe==1.0"));
  INFO(created.err);
  REQUIRE(created.status == 0);
  const ShellResult listed = fray_shell(cache.path(), "venv list");
  CHECK(listed.status == 0);
  const ShellResult ran = fray_shell(cache.path(), "run " + dead_index_options("fray_probe==1.0") +
                                                       " -- python -c 'import fray_probe; print(fray_probe.__version__)'");
  CHECK(trimmed(ran.out) == "1.0");

  CHECK(files_holding(cache.path(), kSecret).empty());
  for (const ShellResult* result : {&created, &listed, &ran}) {
    CHECK_FALSE(contains(result->out, kSecret));
    CHECK_FALSE(contains(result->err, kSecret));
  }
  // Shown where it is shown, redacted.
  CHECK(contains(only_log(cache.path()), "index-url http://user:****@127.0.0.1:1/simple"));
  const auto envs = entries(venv_root(cache.path()) / "envs");
  REQUIRE(envs.size() == 1);
  const fs::path env = venv_root(cache.path()) / "envs" / envs.front();
  CHECK(contains(read_text(env / "fray-env.json"), "index-url http://user:****@127.0.0.1:1/simple"));
  CHECK(contains(read_text(env / "fray-requirements.txt"), "--index-url http://user:****@127.0.0.1:1/simple"));
}

TEST_CASE("a failed build with an index password keeps it out of the cache, the error and stderr") {
  Watchdog watchdog("a failed build with an index password", std::chrono::seconds(180));
  TempDir cache;
  const ShellResult failed = fray_shell(cache.path(), "venv create " + dead_index_options("fray_no_such_package"));
  CHECK(failed.status == 1);
  CHECK(contains(failed.err, "fray-no-such-package"));
  CHECK_FALSE(contains(failed.err, kSecret));
  CHECK_FALSE(contains(failed.out, kSecret));
  CHECK(contains(failed.err, "user:****@127.0.0.1:1"));
  CHECK(files_holding(cache.path(), kSecret).empty());

  // Through the library: the error's command and last lines too.
  try {
    fray::IsolatedVirtualEnv env(venv_options(cache.path())
                                     .with_package("fray_no_such_package")
                                     .with_index_url(kDeadIndex)
                                     .with_extra_index_url("https://tok3n@127.0.0.1:1/extra")
                                     .with_find_links("http://links:f1ndpass@127.0.0.1:1/links/")
                                     .with_find_links(test_wheels().v1.string()));
    FAIL("the build succeeded");
  } catch (const fray::RuntimeEnvSetupError& e) {
    CHECK_FALSE(contains(e.what(), kSecret));
    CHECK_FALSE(contains(e.what(), "tok3n"));
    for (const auto& word : e.command()) CHECK_FALSE(contains(word, kSecret));
    for (const auto& line : e.last_lines()) CHECK_FALSE(contains(line, kSecret));
  }
  CHECK(files_holding(cache.path(), kSecret).empty());
  CHECK(files_holding(cache.path(), "tok3n").empty());
  CHECK(files_holding(cache.path(), "f1ndpass").empty());

  // A requirement naming a URL with a token in it.
  const ShellResult by_url = fray_shell(
      cache.path(), fmt::format("venv create --python {} --no-index --package 'fray_probe @ http://tok3n@127.0.0.1:1/fray_probe-1.0-py3-none-any.whl'",
                                kSystemPython));
  CHECK(by_url.status == 1);
  CHECK(contains(by_url.err, "http://****@127.0.0.1:1/fray_probe-1.0"));
  CHECK_FALSE(contains(by_url.err, "tok3n"));
  CHECK(files_holding(cache.path(), "tok3n").empty());
}

TEST_CASE("the env key tells two index passwords apart, and the same password gives the same key") {
  TempDir cache;
  auto options = [&](const std::string& url) {
    return probe_options(cache.path(), 1).with_index_url(url);
  };
  const std::string one = fray::IsolatedVirtualEnv::key_of(options("http://user:s3cret@127.0.0.1:1/simple"));
  CHECK(one == fray::IsolatedVirtualEnv::key_of(options("http://user:s3cret@127.0.0.1:1/simple")));
  CHECK(one != fray::IsolatedVirtualEnv::key_of(options("http://user:other@127.0.0.1:1/simple")));
  CHECK(one != fray::IsolatedVirtualEnv::key_of(options("http://user:****@127.0.0.1:1/simple")));
}

TEST_CASE("an index URL holding whitespace is an InvalidOptions that shows it redacted") {
  TempDir cache;
  try {
    fray::IsolatedVirtualEnv env(probe_options(cache.path(), 1).with_index_url("http://user:s3cret@host/my index"));
    FAIL("no error");
  } catch (const fray::InvalidOptions& e) {
    CHECK(contains(e.what(), "http://user:****@host/my index"));
    CHECK_FALSE(contains(e.what(), kSecret));
  }
}

TEST_CASE("the installer gets the index password, and no process's command line shows it") {
  Watchdog watchdog("a build from an index with a password", std::chrono::seconds(180));
  TempDir cache, files;
  AuthenticatedIndex index(test_wheels().v2);
  // The URL comes from a requirements file, so no command line of fray's holds it.
  auto build = [&](const std::string& userinfo) {
    // Named for nothing in it: `ps` would show its name.
    const fs::path requirements = files / fmt::format("requirements-{}.txt", userinfo.size());
    write_text(requirements, fmt::format("--index-url {}\nfray_probe==2.0\n", index.url(userinfo)));
    return fray_shell(cache.path(), fmt::format("venv create --quiet --python {} --requirements {}", kSystemPython,
                                                requirements.string()));
  };
  // Every command line on the machine while the build runs.
  std::atomic<bool> building{true};
  std::atomic<int> seen{0};
  std::thread watcher([&] {
    while (building.load()) {
      if (processes_mentioning(kSecret) > 0) ++seen;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const ShellResult created = build("user:s3cret");
  building.store(false);
  watcher.join();
  INFO(created.err);
  CHECK(created.status == 0);
  CHECK(seen.load() == 0);
  CHECK(files_holding(cache.path(), kSecret).empty());
  CHECK_FALSE(contains(created.err, kSecret));

  // The index refuses a wrong password: the one above was really used.
  const ShellResult refused = build("user:wrong");
  CHECK(refused.status == 1);
  CHECK_FALSE(contains(refused.err, "wrong@"));
}

// --- jobs --------------------------------------------------------------------

TEST_CASE("a local job in an env with an index password holds it in none of its files nor in fray job's output") {
  Watchdog watchdog("a job with an index password", std::chrono::seconds(240));
  TempDir cache("fray-jobs-cache-");
  const ShellResult submitted =
      fray_shell(cache.path(), "job submit --wait " + dead_index_options("fray_probe==1.0") +
                                   " -- python -c 'import fray_probe; print(fray_probe.__version__)'");
  INFO(submitted.err);
  CHECK(submitted.status == 0);
  const std::string id = trimmed(submitted.out);
  const ShellResult logs = fray_shell(cache.path(), "job logs " + id);
  CHECK(logs.out == "[replica-0] 1.0\n");
  const ShellResult called = fray_shell(cache.path(), "job call --wait " + dead_index_options("fray_probe==1.0") +
                                                          " fray_probe.calls:add 40 2");
  CHECK(called.status == 0);
  const ShellResult failed = fray_shell(cache.path(), "job submit --wait " + dead_index_options("fray_no_such_package") +
                                                          " -- python -c 'print(1)'");
  CHECK(failed.status == 1);
  const std::string failed_id = trimmed(failed.out);
  const ShellResult status = fray_shell(cache.path(), "job status " + failed_id);
  CHECK(contains(status.out + status.err, "fray-no-such-package"));
  const ShellResult listed = fray_shell(cache.path(), "job list --all");

  CHECK(files_holding(cache.path(), kSecret).empty());
  for (const ShellResult* result : {&submitted, &logs, &called, &failed, &status, &listed}) {
    CHECK_FALSE(contains(result->out, kSecret));
    CHECK_FALSE(contains(result->err, kSecret));
  }
  // The request on disk shows the index redacted.
  CHECK(contains(read_text(cache.path() / "jobs" / id / "request.json"), "user:****@127.0.0.1:1"));
}
