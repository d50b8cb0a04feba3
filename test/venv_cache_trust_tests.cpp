// Whom the env cache trusts (issue 15): fray refuses a cache, or a directory
// it uses in one, that someone else owns or can write; follows no link
// planted in it (nor appends, creates or deletes through one); makes what it
// creates private whatever the umask; and has no shared, predictable
// fallback location. Driven through the `fray` command (and the API where it
// says so). Each case checks the harm did not happen: a python planted in
// the cache was not run, a file a link points at was not touched.
//
// "Someone else" is uid 65534 (nobody). Handing a directory to them takes
// root (chown): those cases are skipped, and reported as skipped, when the
// tests do not run as root. fray trusts root's directories (as ssh does), so
// none of these cases rests on root owning something.
#include "test_support.hpp"
#include "venv_test_support.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace fray_test;

namespace {

constexpr uid_t kOtherUid = 65534;
const bool kNotRoot = ::geteuid() != 0;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// The env options every case uses: the system interpreter, no packages (a
// build is a bare venv, a fraction of a second).
const std::string kEnvOptions = fmt::format("--python {} --quiet", kSystemPython);

// A cache (FRAY_CACHE_DIR) holding one built env, whose bin/python is then
// replaced by a script that leaves `ran` behind if anything runs it.
struct PlantedCache {
  TempDir dir{"fray-trust-"};
  fs::path cache = dir / "cache";
  fs::path ran = dir / "planted-python-ran";
  std::string key;
  fs::path env;

  PlantedCache() {
    const ShellResult built = shell(fray_command(cache, "venv create " + kEnvOptions));
    INFO(built.err);
    REQUIRE(built.status == 0);
    env = trimmed(built.out);
    key = env.filename().string();
    REQUIRE(key.size() == 32);
    plant_python(env);
  }

  // Over the env's python (a link to the system's: removed, never written through).
  void plant_python(const fs::path& in_env) const {
    fs::remove(in_env / "bin" / "python");
    write_text(in_env / "bin" / "python", fmt::format("#!/bin/sh\necho ran >> {}\n", shell_quote(ran.string())));
    fs::permissions(in_env / "bin" / "python", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                                    fs::perms::others_read | fs::perms::others_exec);
  }

  fs::path venv() const { return venv_root(cache); }
  ShellResult fray(const std::string& args) const { return shell(fray_command(cache, args)); }
  // `python -c pass` in the env: the planted python, if fray lets it run.
  ShellResult run_python() const { return fray("run " + kEnvOptions + " -- python -c pass"); }
  bool planted_python_ran() const { return fs::exists(ran); }
};

// fray refused to run anything, and said why.
void check_refused(const PlantedCache& cache, const ShellResult& result, const std::string& message) {
  INFO("stderr: " << result.err);
  CHECK(result.status == 125);
  CHECK(contains(result.err, "fray: unsafe env cache: " + message));
  CHECK_FALSE(cache.planted_python_ran());
}

void change_owner(const fs::path& path, uid_t uid) { REQUIRE(::lchown(path.c_str(), uid, uid) == 0); }

std::string owned_by_other(const fs::path& path) {
  return fmt::format("{} is owned by uid {}, not you (uid {})", path.string(), kOtherUid, ::geteuid());
}

std::string passwd_home() {
  const struct passwd* entry = ::getpwuid(::geteuid());
  REQUIRE(entry != nullptr);
  return entry->pw_dir;
}

}  // namespace

TEST_CASE("a cache directory owned by another user is refused, and its python is not run" * doctest::skip(kNotRoot)) {
  PlantedCache cache;
  change_owner(cache.cache, kOtherUid);
  check_refused(cache, cache.run_python(), owned_by_other(cache.cache));
  // The API says the same, with its own type.
  CHECK_THROWS_AS(fray::IsolatedVirtualEnv(venv_options(cache.cache)), fray::UnsafeCache);
  CHECK_FALSE(cache.planted_python_ran());
}

TEST_CASE("a directory fray uses in the cache, owned by another user, is refused" * doctest::skip(kNotRoot)) {
  PlantedCache cache;
  for (const char* name : {"", "envs", "locks", "logs", "tmp", "probes", "hashes"}) {
    const fs::path dir = *name == '\0' ? cache.venv() : cache.venv() / name;
    CAPTURE(dir);
    change_owner(dir, kOtherUid);
    check_refused(cache, cache.run_python(), owned_by_other(dir));
    change_owner(dir, ::geteuid());
  }
}

TEST_CASE("an env directory owned by another user is refused, and its python is not run" * doctest::skip(kNotRoot)) {
  PlantedCache cache;
  change_owner(cache.env, kOtherUid);
  check_refused(cache, cache.run_python(), owned_by_other(cache.env));
  const ShellResult path = cache.fray(fmt::format("venv path --python {}", kSystemPython));
  CHECK(path.status == 125);  // fray's own error: the cache is unusable (README "Exit codes")
  CHECK(contains(path.err, owned_by_other(cache.env)));
}

TEST_CASE("a cache writable by its group or by others is refused, and its python is not run") {
  PlantedCache cache;
  SUBCASE("the cache directory, by its group") {
    fs::permissions(cache.cache, fs::perms::owner_all | fs::perms::group_all);
    check_refused(cache, cache.run_python(), fmt::format("{} is writable by its group (mode 0770)", cache.cache.string()));
  }
  SUBCASE("the cache directory, by others") {
    fs::permissions(cache.cache, fs::perms::all);
    check_refused(cache, cache.run_python(), fmt::format("{} is writable by others (mode 0777)", cache.cache.string()));
    CHECK_THROWS_AS(fray::IsolatedVirtualEnv(venv_options(cache.cache)), fray::UnsafeCache);
    CHECK_THROWS_AS(fray::VenvCache(cache.cache).list(), fray::UnsafeCache);
  }
  SUBCASE("envs/, as a umask of 002 made it") {
    fs::permissions(cache.venv() / "envs", fs::perms::all & ~fs::perms::others_write);
    check_refused(cache, cache.run_python(),
                  fmt::format("{} is writable by its group (mode 0775)", (cache.venv() / "envs").string()));
    const ShellResult list = cache.fray("venv list");
    CHECK(list.status == 125);  // fray's own error: the cache is unusable (README "Exit codes")
    CHECK(contains(list.err, "is writable by its group (mode 0775)"));
  }
  SUBCASE("the env's bin/") {
    fs::permissions(cache.env / "bin", fs::perms::others_write, fs::perm_options::add);
    check_refused(cache, cache.run_python(), fmt::format("{} is writable by others", (cache.env / "bin").string()));
  }
  CHECK_FALSE(cache.planted_python_ran());
}

TEST_CASE("a directory above the cache that others can write is refused without the sticky bit, and trusted with it") {
  PlantedCache cache;
  fs::permissions(cache.dir.path(), fs::perms::all);
  check_refused(cache, cache.run_python(),
                fmt::format("{} is writable by others without the sticky bit", cache.dir.path().string()));
  // Like /tmp: no one can rename or delete what is not theirs in it.
  fs::permissions(cache.dir.path(), fs::perms::all | fs::perms::sticky_bit);
  const ShellResult trusted = cache.fray("run " + kEnvOptions + " -- true");
  INFO(trusted.err);
  CHECK(trusted.status == 0);
}

TEST_CASE("symbolic links planted in the cache are refused, and nothing is done through them") {
  PlantedCache cache;
  TempDir elsewhere("fray-trust-elsewhere-");
  SUBCASE("venv/ itself") {
    fs::rename(cache.venv(), elsewhere / "venv");
    fs::create_directory_symlink(elsewhere / "venv", cache.venv());
    check_refused(cache, cache.run_python(),
                  fmt::format("{} is a symbolic link (fray follows no link in its cache)", cache.venv().string()));
  }
  SUBCASE("locks/") {
    fs::rename(cache.venv() / "locks", elsewhere / "locks");
    fs::create_directory_symlink(elsewhere / "locks", cache.venv() / "locks");
    check_refused(cache, cache.run_python(), fmt::format("{} is a symbolic link", (cache.venv() / "locks").string()));
  }
  SUBCASE("envs/<key>, to an env elsewhere") {
    fs::rename(cache.env, elsewhere / "env");
    fs::create_directory_symlink(elsewhere / "env", cache.env);
    check_refused(cache, cache.run_python(), fmt::format("{} is a symbolic link", cache.env.string()));
    CHECK(fs::exists(elsewhere / "env" / ".fray-complete"));
  }
  SUBCASE("locks/<key>.lock, to a file that does not exist") {
    const fs::path lock = cache.venv() / "locks" / (cache.key + ".lock");
    fs::remove(lock);
    fs::create_symlink(elsewhere / "victim", lock);
    check_refused(cache, cache.run_python(), fmt::format("{} is a symbolic link", lock.string()));
    CHECK_FALSE(fs::exists(elsewhere / "victim"));  // not created through the link
  }
  SUBCASE("logs/<key>.log, to a file a build would append to") {
    const ShellResult removed = cache.fray("venv rm " + cache.key);
    REQUIRE(removed.status == 0);
    const fs::path log = cache.venv() / "logs" / (cache.key + ".log");
    const fs::path victim = elsewhere / "victim";
    write_text(victim, "precious\n");
    fs::create_symlink(victim, log);
    const ShellResult created = cache.fray("venv create " + kEnvOptions);
    INFO(created.err);
    CHECK(created.status == 125);
    CHECK(contains(created.err, fmt::format("fray: unsafe env cache: {} is a symbolic link", log.string())));
    CHECK(read_text(victim) == "precious\n");
    CHECK_FALSE(fs::exists(fs::symlink_status(cache.env)));  // nothing was built either
    CHECK(entries(cache.venv() / "tmp").empty());
  }
}

namespace {

// An env-looking directory outside the cache, and a link to it at envs/KEY.
struct LinkedEnv {
  TempDir target{"fray-trust-target-"};
  std::string key = "0123456789abcdef0123456789abcdef";
  fs::path link;
  explicit LinkedEnv(const PlantedCache& cache) : link(cache.venv() / "envs" / key) {
    fs::create_directory(target / "bin");
    write_text(target / ".fray-complete", key + "\n");
    write_text(target / "fray-env.json", "{}");
    write_text(target / "bin" / "python", "#!/bin/sh\n");
    fs::create_directory_symlink(target.path(), link);
  }
  void check_untouched() const {
    CHECK(fs::exists(target / ".fray-complete"));
    CHECK(fs::exists(target / "fray-env.json"));
    CHECK(fs::exists(target / "bin" / "python"));
    CHECK(entries(target.path()) == std::vector<std::string>{".fray-complete", "bin", "fray-env.json"});
  }
};

}  // namespace

TEST_CASE("fray venv rm of a key whose envs/KEY is a link removes the link and leaves its target alone") {
  PlantedCache cache;
  LinkedEnv linked(cache);
  const ShellResult removed = cache.fray("venv rm " + linked.key);
  INFO(removed.err);
  CHECK(removed.status == 0);
  CHECK(contains(removed.out, "removed " + linked.key));
  CHECK_FALSE(fs::exists(fs::symlink_status(linked.link)));
  linked.check_untouched();
  CHECK(fs::exists(cache.env / ".fray-complete"));  // the other env stays

  // A link inside an env is unlinked with it, not followed.
  TempDir outside("fray-trust-outside-");
  write_text(outside / "keep", "keep\n");
  fs::create_directory_symlink(outside.path(), cache.env / "lib" / "planted-link");
  const ShellResult removed_env = cache.fray("venv rm " + cache.key);
  CHECK(removed_env.status == 0);
  CHECK_FALSE(fs::exists(fs::symlink_status(cache.env)));
  CHECK(read_text(outside / "keep") == "keep\n");
}

TEST_CASE("fray venv list refuses a FIFO or a link at an env's lock file instead of waiting on it or following it, and fray venv rm of an unsafe cache exits 125") {
  Watchdog watchdog("venv list with a FIFO at a lock file", std::chrono::seconds(60));
  PlantedCache cache;
  const fs::path lock = cache.venv() / "locks" / (cache.key + ".lock");
  fs::remove(lock);
  REQUIRE(::mkfifo(lock.c_str(), 0600) == 0);
  const ShellResult with_fifo = cache.fray("venv list");
  CHECK(with_fifo.status == 125);
  CHECK(contains(with_fifo.err, "fray: unsafe env cache: " + lock.string()));

  fs::remove(lock);
  TempDir outside("fray-trust-outside-");
  write_text(outside / "target", "");
  fs::create_symlink(outside / "target", lock);
  const ShellResult with_link = cache.fray("venv list");
  CHECK(with_link.status == 125);
  CHECK(contains(with_link.err, lock.string() + " is a symbolic link"));

  fs::permissions(cache.cache, fs::perms::owner_all | fs::perms::group_all);
  const ShellResult removed = cache.fray("venv rm " + cache.key);
  CHECK(removed.status == 125);
  CHECK(contains(removed.err, "fray: unsafe env cache: "));
  CHECK(fs::exists(cache.env));
}

TEST_CASE("fray venv gc removes a link at envs/KEY as a leftover and leaves its target alone") {
  PlantedCache cache;
  LinkedEnv linked(cache);
  const ShellResult list = cache.fray("venv list");
  CHECK(list.status == 0);
  CHECK_FALSE(contains(list.out, linked.key));  // not an env: nothing is read through it
  const ShellResult collected = cache.fray("venv gc --older-than 0");
  INFO(collected.err);
  CHECK(collected.status == 0);
  CHECK(contains(collected.out, "cleaned 1 leftover(s)"));
  CHECK_FALSE(fs::exists(fs::symlink_status(linked.link)));
  linked.check_untouched();
}

TEST_CASE("what fray creates in a new cache is private under a umask of 000, and no one else can write an env") {
  TempDir dir("fray-trust-umask-");
  const fs::path cache = dir / "new" / "cache";
  const ShellResult created =
      shell("umask 000; " + fray_command(cache, "venv create --quiet " + probe_cli_options(1)));
  INFO(created.err);
  REQUIRE(created.status == 0);
  const fs::path env = trimmed(created.out);
  const std::string key = env.filename().string();
  const fs::path venv = venv_root(cache);
  for (const fs::path& made : {dir / "new", cache, venv, venv / "envs", venv / "locks", venv / "logs", venv / "tmp",
                               venv / "probes", venv / "hashes"}) {
    CAPTURE(made);
    CHECK(mode_of(made) == 0700);
  }
  CHECK(mode_of(venv / "logs" / (key + ".log")) == 0600);
  CHECK(mode_of(venv / "locks" / (key + ".lock")) == 0600);
  int fray_files = 0;
  for (const char* sub : {"probes", "hashes"}) {
    for (const auto& name : entries(venv / sub)) {
      CAPTURE(name);
      CHECK(mode_of(venv / sub / name) == 0600);
      ++fray_files;
    }
  }
  CHECK(fray_files >= 2);  // the interpreter's probe and the wheel's hash
  // The env: what venv and pip made (under umask 000: 0777 and 0666), less
  // group and other write.
  int checked = 0;
  CHECK((mode_of(env) & 022) == 0);
  for (auto it = fs::recursive_directory_iterator(env); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_symlink()) continue;
    CAPTURE(it->path());
    CHECK((mode_of(it->path()) & 022) == 0);
    ++checked;
  }
  CHECK(checked > 10);
  CHECK(mode_of(env / ".fray-complete") == 0644);
  // And it is trusted as made.
  const ShellResult ran = shell(fray_command(cache, "run --quiet " + probe_cli_options(1) +
                                                        " -- python -c 'import fray_probe; print(fray_probe.__version__)'"));
  INFO(ran.err);
  CHECK(ran.status == 0);
  CHECK(trimmed(ran.out) == "1.0");
}

TEST_CASE("without HOME and XDG_CACHE_HOME the cache is in the password database's home, never /tmp/fray-cache-<uid>") {
  const std::string key = "0123456789abcdef0123456789abcdef";
  const ShellResult result = shell(fmt::format("env -u HOME -u XDG_CACHE_HOME -u FRAY_CACHE_DIR {} venv rm {}",
                                               shell_quote(kFrayCli), key));
  INFO(result.err);
  CHECK(result.status == 1);
  CHECK(contains(result.err, fmt::format("no env {} in {}/.cache/fray", key, passwd_home())));
  CHECK_FALSE(contains(result.err, "/tmp/fray-cache"));
}

TEST_CASE("without HOME, XDG_CACHE_HOME or a password database entry fray asks for FRAY_CACHE_DIR" *
          doctest::skip(kNotRoot)) {
  // A uid with no entry in the password database.
  constexpr uid_t kNoEntry = 54321;
  REQUIRE(::getpwuid(kNoEntry) == nullptr);
  const ShellResult result = shell(fmt::format(
      "setpriv --reuid={0} --regid={0} --clear-groups env -u HOME -u XDG_CACHE_HOME -u FRAY_CACHE_DIR {1} venv rm "
      "0123456789abcdef0123456789abcdef",
      kNoEntry, shell_quote(kFrayCli)));
  INFO(result.err);
  CHECK(result.status == 125);  // fray's own error: no cache to use
  CHECK(contains(result.err, fmt::format("fray: no place for the env cache: HOME and XDG_CACHE_HOME are unset and uid {} "
                                         "has no home directory in the password database; set FRAY_CACHE_DIR",
                                         kNoEntry)));
  CHECK_FALSE(contains(result.err, "/tmp/fray-cache"));
}

TEST_CASE("a probe others could have written is not believed: fray probes again and runs no interpreter it names") {
  PlantedCache cache;
  const fs::path probes = cache.venv() / "probes";
  std::vector<std::string> names = entries(probes);
  names.erase(std::remove_if(names.begin(), names.end(), [](const std::string& n) { return !n.starts_with("python-"); }),
              names.end());
  REQUIRE(names.size() == 1);
  const fs::path probe = probes / names.front();
  // The same interpreter's identity, another interpreter to run: what a
  // member of the cache's group could write into a probe made under umask 002.
  std::string text = read_text(probe);
  const std::string field = "\"run_path\":\"";
  const auto start = text.find(field);
  REQUIRE(start != std::string::npos);
  const auto end = text.find('"', start + field.size());
  text.replace(start + field.size(), end - start - field.size(), (cache.env / "bin" / "python").string());
  write_text(probe, text);
  fs::permissions(probe, fs::perms::group_write | fs::perms::others_write, fs::perm_options::add);

  // A new env (another key): built with the interpreter fray probes itself.
  const ShellResult created = cache.fray("venv create --system-site-packages " + kEnvOptions);
  INFO(created.err);
  CHECK(created.status == 0);
  CHECK_FALSE(cache.planted_python_ran());
  CHECK(mode_of(probe) == 0600);  // replaced by a probe of fray's own
  CHECK_FALSE(contains(read_text(probe), cache.env.string()));
}

TEST_CASE("a link to the cache directory is followed when it is yours, and refused when another user owns it" *
          doctest::skip(kNotRoot)) {
  PlantedCache cache;
  const fs::path link = cache.dir / "link-to-cache";
  fs::create_directory_symlink(cache.cache, link);
  const auto through_link = [&](const std::string& args) { return shell(fray_command(link, args)); };
  const ShellResult yours = through_link("run " + kEnvOptions + " -- true");
  INFO(yours.err);
  CHECK(yours.status == 0);

  change_owner(link, kOtherUid);
  const ShellResult theirs = through_link("run " + kEnvOptions + " -- python -c pass");
  INFO(theirs.err);
  CHECK(theirs.status == 125);
  CHECK(contains(theirs.err, fmt::format("fray: unsafe env cache: {} is a symbolic link owned by uid {}, not you (uid {})",
                                         link.string(), kOtherUid, ::geteuid())));
  CHECK_FALSE(cache.planted_python_ran());
}

TEST_CASE("an env's modules are compiled when it is built, so importing them under a umask of 002 leaves nothing others may change") {
  Watchdog watchdog("imports under umask 002", std::chrono::seconds(180));
  TempDir dir;
  const fs::path cache = dir / "cache";
  const ShellResult built = shell("umask 002 && " + fray_command(cache, "venv create --quiet " + probe_cli_options(1)));
  INFO(built.err);
  REQUIRE(built.status == 0);
  const fs::path env = trimmed(built.out);
  const ShellResult imported = shell(
      "umask 002 && " + fray_command(cache, "run --quiet " + probe_cli_options(1) +
                                                " -- python -c 'import fray_probe.calls as c; print(c.add.__code__.co_filename)'"));
  INFO(imported.err);
  REQUIRE(imported.status == 0);
  // The bytecode names the env's own path, not the build's temporary one.
  CHECK(trimmed(imported.out).starts_with(env.string() + "/lib/"));
  std::vector<std::string> writable;
  for (const auto& entry : fs::recursive_directory_iterator(env)) {
    if (entry.is_symlink()) continue;
    if ((mode_of(entry.path()) & 022) != 0) writable.push_back(entry.path().string());
  }
  CHECK_MESSAGE(writable.empty(), writable.size(), " paths writable by group or others, the first: ",
                writable.empty() ? "" : writable.front());
}
