// The Slurm cluster, against a real single-node Slurm that the first test
// starts with scripts/slurm-local (a private SLURM_CONF, its own ports and
// state directory) and that is stopped when the tests end: Python Fray's
// cluster cases, Slurm's errors (a partition that does not exist, more cpus
// than the node has, no controller, no sbatch), a Python entrypoint, retries,
// state surviving a new cluster object, and `fray job --cluster slurm` from a
// shell.
//
// Where Slurm cannot be started (its packages are missing, or
// scripts/slurm-local exits 3), this component exits with status 77, which
// Meson reports as SKIP, and says why: never a silent pass.
// FRAY_TEST_SLURM_CONF=<slurm.conf> runs the tests on a Slurm already up.
#include <doctest/doctest.h>

#include <signal.h>
#include <stdlib.h>

#include <boost/json/parse.hpp>

#include <fray/detail/fs_util.hpp>
#include <fray/fray.hpp>
#include <fray/jobs.hpp>

#include "test_support.hpp"
#include "venv_test_support.hpp"

using namespace fray;
using namespace fray_test;
using namespace std::chrono_literals;

namespace {

const std::string kSlurmLocal = FRAY_SOURCE_DIR "/scripts/slurm-local";

// ---------------------------------------------------------------- the private Slurm

struct PrivateSlurm {
  bool ready = false;
  bool skip = false;  // Slurm cannot run here: the component is skipped
  std::string reason;
  fs::path state_dir;  // when these tests started it (and stop it)
  bool started_here = false;
};

PrivateSlurm& private_slurm() {
  static PrivateSlurm* slurm = new PrivateSlurm;  // read by atexit and watchdogs: never destroyed
  return *slurm;
}

// Stops the Slurm these tests started (atexit, and a watchdog's on_hang).
void stop_private_slurm() noexcept {
  PrivateSlurm& slurm = private_slurm();
  if (!slurm.started_here) return;
  slurm.started_here = false;
  const std::string command =
      fmt::format("{} stop --state-dir {} >/dev/null 2>&1", shell_quote(kSlurmLocal), shell_quote(slurm.state_dir.string()));
  (void)std::system(command.c_str());
  fray::detail::remove_tree(slurm.state_dir);
}

// The SLURM_CONF that slurm-local's output exports.
std::string exported_conf(const std::string& out) {
  const auto at = out.find("SLURM_CONF=");
  if (at == std::string::npos) return {};
  std::string value = out.substr(at + 11, out.find('\n', at) - at - 11);
  value = trimmed(value);
  if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') && value.back() == value.front()) {
    value = value.substr(1, value.size() - 2);
  }
  return value;
}

void start_private_slurm() {
  PrivateSlurm& slurm = private_slurm();
  if (const char* conf = std::getenv("FRAY_TEST_SLURM_CONF"); conf != nullptr && *conf != '\0') {
    ::setenv("SLURM_CONF", conf, 1);
    slurm.ready = true;
    return;
  }
  const char* path = std::getenv("PATH");
  const std::string path_var = std::string(path != nullptr ? path : "") + ":/usr/sbin:/sbin";
  for (const char* program : {"sbatch", "squeue", "srun", "scancel", "scontrol", "slurmctld", "slurmd", "munged"}) {
    if (fray::detail::find_on_path(program, path_var).empty()) {
      slurm.skip = true;
      slurm.reason = fmt::format("{} is not installed (apt-get install slurmctld slurmd slurm-client munge)", program);
      return;
    }
  }
  if (!fray::detail::is_executable_file(kSlurmLocal)) {
    slurm.skip = true;
    slurm.reason = kSlurmLocal + " is missing";
    return;
  }
  slurm.state_dir = fray::detail::make_temp_directory(fs::temp_directory_path(), "fray-slurm-");
  const ShellResult started = shell(fmt::format("{} start --state-dir {}", shell_quote(kSlurmLocal), shell_quote(slurm.state_dir.string())));
  if (started.status != 0) {
    (void)shell(fmt::format("{} stop --state-dir {}", shell_quote(kSlurmLocal), shell_quote(slurm.state_dir.string())));
    fray::detail::remove_tree(slurm.state_dir);
    slurm.skip = started.status == 3;
    slurm.reason = fmt::format("scripts/slurm-local start exited with status {}: {}{}", started.status, trimmed(started.err),
                               trimmed(started.out).empty() ? "" : " / " + trimmed(started.out));
    return;
  }
  slurm.started_here = true;
  std::atexit(stop_private_slurm);
  const std::string conf = exported_conf(started.out);
  if (conf.empty()) {
    slurm.reason = "scripts/slurm-local start printed no SLURM_CONF=: " + started.out;
    return;
  }
  ::setenv("SLURM_CONF", conf.c_str(), 1);
  slurm.ready = true;
}

// True when only this file's tests run (Meson's slurm_cluster_tests).
bool only_slurm_tests_run() {
  std::string cmdline = read_text("/proc/self/cmdline");
  std::replace(cmdline.begin(), cmdline.end(), '\0', '\n');
  for (const std::string& arg : {std::string("--source-file="), std::string("-sf=")}) {
    const auto at = cmdline.find("\n" + arg);
    if (at == std::string::npos) continue;
    const std::string value = cmdline.substr(at + 1 + arg.size(), cmdline.find('\n', at + 1) - at - 1 - arg.size());
    if (value.find("slurm_cluster_tests") != std::string::npos && value.find(',') == std::string::npos) return true;
  }
  return false;
}

// Starts Slurm once, before anything sets FRAY_CACHE_DIR or other
// variables (its daemons inherit this process's environment). Where Slurm
// cannot run, the component is skipped: exit 77, which Meson reports as SKIP.
void require_slurm() {
  static const bool once = (start_private_slurm(), true);
  (void)once;
  const PrivateSlurm& slurm = private_slurm();
  if (slurm.ready) return;
  if (slurm.skip && only_slurm_tests_run()) {
    std::fprintf(stderr, "SKIP slurm_cluster_tests: Slurm cannot be started here: %s\n", slurm.reason.c_str());
    std::fflush(stderr);
    std::exit(77);
  }
  FAIL("Slurm cannot be started here: " << slurm.reason
                                         << (slurm.skip ? " (run the slurm_cluster component alone to have it reported as skipped)" : ""));
}

// A watchdog that also stops the private Slurm when it fires (its
// _Exit skips atexit).
struct SlurmWatchdog : Watchdog {
  explicit SlurmWatchdog(std::string what, std::chrono::seconds limit = 120s)
      : Watchdog(std::move(what), limit, [] { stop_private_slurm(); }) {}
};

// ---------------------------------------------------------------- helpers

// Sets a variable of this process for a scope.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

struct SlurmRequired {
  SlurmRequired() { require_slurm(); }
};

// Slurm up, a FRAY_CACHE_DIR of its own, and a cluster on it (the default
// jobs dir: $FRAY_CACHE_DIR/slurm-jobs); cancels what still runs when it goes.
struct SlurmJobs {
  SlurmRequired slurm;
  TempDir cache{"fray-slurm-cache-"};
  ScopedEnv cache_env{"FRAY_CACHE_DIR", cache.path().string()};
  SlurmCluster cluster;
  explicit SlurmJobs(SlurmClusterOptions options = {}) : cluster(std::move(options)) {}
  ~SlurmJobs() {
    try {
      for (const JobInfo& info : cluster.list()) {
        if (!is_finished(info.status)) cluster.terminate(info.id);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "slurm tests: cleaning up: %s\n", e.what());
    }
  }
};

JobRequest shell_job(std::string name, const std::string& script) {
  JobRequest request;
  request.name = std::move(name);
  request.entrypoint = Entrypoint::binary({"/bin/sh", "-c", script});
  return request;
}

bool has_line(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

bool every_line_tagged(const std::string& text) {
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (text.compare(start, 9, "[replica-") != 0) return false;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return true;
}

JobInfo wait_until(Cluster& cluster, const JobId& id, JobStatus status, std::chrono::seconds limit = 60s) {
  JobInfo info;
  eventually([&] {
    info = cluster.poll(id);
    return info.status == status || is_finished(info.status);
  }, limit);
  return info;
}

int read_pid(const fs::path& file) {
  int pid = 0;
  eventually([&] {
    pid = std::atoi(read_text(file).c_str());
    return pid > 0;
  }, 60s);
  return pid;
}

// What `scontrol show job` says about a job, on one line.
std::string scontrol_show(const std::string& native_id) { return shell("scontrol --oneliner show job " + native_id).out; }

std::string error_of_launch(Cluster& cluster, const JobRequest& request) {
  try {
    cluster.launch(request);
  } catch (const SlurmError& e) {
    CHECK(!e.slurm_message().empty());
    return e.what();
  } catch (const std::exception& e) {
    FAIL("launch failed with another error: " << std::string(e.what()));
  }
  FAIL("launch did not fail");
  return {};
}

}  // namespace

// ---------------------------------------------------------------- no Slurm needed

TEST_CASE("Slurm cluster specs read every key, round-trip through spec(), and a bad time or empty value names it") {
  const SlurmClusterOptions options = SlurmClusterOptions::from_spec(
      ClusterSpec::parse("slurm?partition=gpu&account=lab&qos=normal&time=1-02:00:00&nonpreemptible_qos=high"));
  CHECK(options.partition == std::optional<std::string>("gpu"));
  CHECK(options.account == std::optional<std::string>("lab"));
  CHECK(options.qos == std::optional<std::string>("normal"));
  CHECK(options.time == std::optional<std::string>("1-02:00:00"));
  CHECK(options.nonpreemptible_qos == std::optional<std::string>("high"));
  for (const char* time : {"30", "30:00", "01:00:00", "2-12", "2-12:30", "2-12:30:00", "INFINITE", "UNLIMITED"}) {
    CHECK_NOTHROW(SlurmClusterOptions::from_spec(ClusterSpec::parse(std::string("slurm?time=") + time)));
  }
  for (const char* time : {"", "1h", "01:00:00:00", "1-", "-1", "a:b", "1:2:3:4", "1--2"}) {
    INFO(time);
    try {
      SlurmClusterOptions::from_spec(ClusterSpec::parse(std::string("slurm?time=") + time));
      FAIL("time was accepted");
    } catch (const InvalidClusterSpec& e) {
      CHECK(std::string(e.what()).find("time=") != std::string::npos);
    }
  }
  CHECK_THROWS_AS(SlurmClusterOptions::from_spec(ClusterSpec::parse("slurm?partition=")), InvalidClusterSpec);
  CHECK_THROWS_AS(SlurmClusterOptions::from_spec(ClusterSpec::parse("local")), InvalidClusterSpec);
  CHECK_THROWS_AS(SlurmCluster(SlurmClusterOptions{}.with_time("soon")), InvalidClusterSpec);

  TempDir dir("fray-slurm-spec-");
  SlurmCluster cluster(SlurmClusterOptions{}.with_partition("debug").with_time("00:10:00").with_jobs_dir(dir / "jobs"));
  const std::string spec = cluster.spec();
  CHECK(spec == fmt::format("slurm?dir={}&partition=debug&time=00:10:00", fs::canonical(dir / "jobs").string()));
  auto again = connect_cluster(spec);
  auto* slurm = dynamic_cast<SlurmCluster*>(again.get());
  REQUIRE(slurm != nullptr);
  CHECK(slurm->jobs_dir() == cluster.jobs_dir());
  CHECK(slurm->spec() == spec);
  CHECK(SlurmCluster(SlurmClusterOptions{}.with_jobs_dir(dir / "other")).spec().starts_with("slurm?dir="));
}

TEST_CASE("without sbatch on PATH a Slurm launch is a SlurmError saying so, and leaves no job behind") {
  TempDir dir("fray-slurm-nopath-");
  SlurmCluster cluster(SlurmClusterOptions{}.with_jobs_dir(dir / "jobs"));
  fs::create_directories(dir / "empty");
  ScopedEnv path("PATH", (dir / "empty").string());
  try {
    cluster.launch(shell_job("nobatch", "true"));
    FAIL("launch did not fail");
  } catch (const SlurmError& e) {
    CHECK(e.command() == "sbatch");
    CHECK(std::string(e.what()).find("sbatch not found: is Slurm's client installed?") != std::string::npos);
  }
  CHECK(entries(dir / "jobs").empty());
  CHECK_THROWS_AS(cluster.poll("no-such-job"), JobNotFound);
  CHECK(cluster.list().empty());
  JobRequest tpu = shell_job("tpu", "true");
  tpu.resources.with_tpu("v5e", "2x2");
  CHECK_THROWS_AS(cluster.launch(tpu), JobRejected);
  CHECK_THROWS_AS(cluster.launch(shell_job("has space", "true")), InvalidJobRequest);
}

// ---------------------------------------------------------------- on the private Slurm

TEST_CASE("a Slurm job launched then polled has the same id and name, is listed, and succeeds with no error") {
  SlurmWatchdog watchdog("slurm launch, poll, list, wait");
  SlurmJobs jobs;
  const JobId id = jobs.cluster.launch(shell_job("hello", "echo hello from $FRAY_JOB_NAME"));
  const JobInfo polled = jobs.cluster.poll(id);
  CHECK(polled.id == id);
  CHECK(polled.name == "hello");
  CHECK(!polled.native_id.empty());
  CHECK(polled.submitted.has_value());
  const auto listed = jobs.cluster.list();
  CHECK(std::any_of(listed.begin(), listed.end(), [&](const JobInfo& info) { return info.id == id; }));
  const JobInfo done = jobs.cluster.wait(id, 90s, /*raise_on_failure=*/true);
  CHECK(done.status == JobStatus::succeeded);
  CHECK(done.error.empty());
  REQUIRE(done.replicas.size() == 1);
  CHECK(done.replicas[0].status == JobStatus::succeeded);
  CHECK(done.replicas[0].exit_code == 0);
  CHECK(done.started.has_value());
  CHECK(done.ended.has_value());
  CHECK(jobs.cluster.logs(id) == "[replica-0] hello from hello\n");
  CHECK(jobs.cluster.log_files(id).size() == 1);
  // Slurm knows it by the name.
  CHECK(scontrol_show(done.native_id).find("JobName=hello ") != std::string::npos);
}

TEST_CASE("a Slurm job sees its env vars, its ids and the cluster spec in its working dir, and not a variable set only in the submitter's environment") {
  SlurmWatchdog watchdog("slurm job environment");
  SlurmJobs jobs;
  ScopedEnv only_here("FRAY_TEST_SUBMITTER_ONLY", "leaked");
  TempDir workdir("fray-slurm-workdir-");
  JobRequest request = shell_job("envjob", "echo \"$GREETING|$FRAY_JOB_ID|$FRAY_JOB_NAME|$FRAY_REPLICA_ID|$FRAY_REPLICA_COUNT|"
                                           "$FRAY_CLUSTER_SPEC|$FRAY_JOB_CPU|${FRAY_TEST_SUBMITTER_ONLY-unset}|$(pwd)|"
                                           "$SLURM_CPUS_PER_TASK\"");
  request.environment.env_vars["GREETING"] = "hi 'there'";
  request.environment.working_dir = fs::canonical(workdir.path());
  const JobId id = jobs.cluster.launch(request);
  REQUIRE(jobs.cluster.wait(id, 90s).status == JobStatus::succeeded);
  const std::string expected = fmt::format("[replica-0] hi 'there'|{}|envjob|0|1|{}|1|unset|{}|1\n", id, jobs.cluster.spec(),
                                           fs::canonical(workdir.path()).string());
  CHECK(jobs.cluster.logs(id) == expected);
  // The batch script names what it exports, and the submitter's own variable is not among them.
  const std::string script = read_text(jobs.cluster.jobs_dir() / id / "job.sh");
  CHECK(script.find("FRAY_TEST_SUBMITTER_ONLY") == std::string::npos);
  CHECK(script.find("'GREETING=hi '\\''there'\\'''") != std::string::npos);
  // The spec names this very cluster: nested code sees the same job.
  auto nested = connect_cluster(jobs.cluster.spec());
  CHECK(nested->poll(id).status == JobStatus::succeeded);
}

TEST_CASE("a Slurm job with 3 replicas where replica 1 exits 1 is failed, names replica 1, and keeps the others' output, every line tagged") {
  SlurmWatchdog watchdog("slurm three replicas");
  SlurmJobs jobs;
  JobRequest request = shell_job("three", "echo start $FRAY_REPLICA_ID; [ $FRAY_REPLICA_ID = 1 ] && exit 1; echo end $FRAY_REPLICA_ID");
  request.replicas = 3;
  // Half a core each: Slurm packs them on one node's 2 cores (--overcommit).
  request.resources.cpu = 0.5;
  const JobId id = jobs.cluster.launch(request);
  const JobInfo info = jobs.cluster.wait(id, 90s);
  CHECK(info.status == JobStatus::failed);
  REQUIRE(info.replicas.size() == 3);
  CHECK(info.replicas[0].status == JobStatus::succeeded);
  CHECK(info.replicas[1].status == JobStatus::failed);
  CHECK(info.replicas[1].exit_code == 1);
  CHECK(info.replicas[2].status == JobStatus::succeeded);
  CHECK(info.error == "replica 1: exited with status 1");
  const std::string logs = jobs.cluster.logs(id);
  CHECK(has_line(logs, "[replica-0] start 0"));
  CHECK(has_line(logs, "[replica-0] end 0"));
  CHECK(has_line(logs, "[replica-1] start 1"));
  CHECK(logs.find("end 1") == std::string::npos);
  CHECK(has_line(logs, "[replica-2] start 2"));
  CHECK(has_line(logs, "[replica-2] end 2"));
  CHECK(every_line_tagged(logs));
  CHECK(jobs.cluster.logs(id, LogOptions{.replica = 2, .tagged = false}) == "start 2\nend 2\n");
  CHECK_THROWS_AS(jobs.cluster.wait(id, 1s, /*raise_on_failure=*/true), JobFailed);
}

TEST_CASE("terminating a running Slurm job cancels it, stops its processes and marks it stopped") {
  SlurmWatchdog watchdog("slurm terminate");
  SlurmJobs jobs;
  const fs::path pid_file = jobs.cache / "replica.pid";
  const JobId id = jobs.cluster.launch(shell_job("sleeper", fmt::format("echo $$ > {}; exec sleep 1000", pid_file.string())));
  const int replica = read_pid(pid_file);
  REQUIRE(replica > 0);
  CHECK(wait_until(jobs.cluster, id, JobStatus::running).status == JobStatus::running);
  jobs.cluster.terminate(id);
  const JobInfo info = jobs.cluster.poll(id);
  CHECK(info.status == JobStatus::stopped);
  CHECK(info.error == "stopped");
  REQUIRE(info.replicas.size() == 1);
  CHECK(info.replicas[0].status == JobStatus::stopped);
  CHECK(eventually([&] { return process_gone(replica); }, 30s));
  CHECK(scontrol_show(info.native_id).find("JobState=CANCELLED") != std::string::npos);
  // Terminating a finished job leaves it as it is.
  jobs.cluster.terminate(id);
  CHECK(jobs.cluster.poll(id).status == JobStatus::stopped);
}

TEST_CASE("a Slurm job's cpu, memory and time limit reach Slurm as asked") {
  SlurmWatchdog watchdog("slurm resources");
  SlurmJobs jobs(SlurmClusterOptions{}.with_time("00:05:00"));
  JobRequest request = shell_job("sized", "echo $SLURM_CPUS_PER_TASK $FRAY_JOB_CPU $FRAY_JOB_RAM");
  request.resources.with_cpu(1.5).with_ram("256m");
  const JobId id = jobs.cluster.launch(request);
  const JobInfo info = jobs.cluster.wait(id, 90s);
  CHECK(info.status == JobStatus::succeeded);
  CHECK(jobs.cluster.logs(id) == fmt::format("[replica-0] 2 1.5 {}\n", 256 << 20));
  const std::string shown = scontrol_show(info.native_id);
  INFO(shown);
  CHECK(shown.find("TimeLimit=00:05:00") != std::string::npos);
  CHECK(shown.find("CPUs/Task=2") != std::string::npos);
  CHECK(shown.find("MinMemoryCPU=128M") != std::string::npos);
  CHECK(shown.find("Requeue=0") != std::string::npos);
}

TEST_CASE("a Slurm job on a partition that does not exist is a SlurmError carrying Slurm's message, and leaves nothing behind") {
  SlurmWatchdog watchdog("slurm bad partition");
  SlurmJobs jobs(SlurmClusterOptions{}.with_partition("no-such-partition"));
  const std::string error = error_of_launch(jobs.cluster, shell_job("nowhere", "true"));
  MESSAGE("Slurm said: " << error);
  CHECK(error.find("Invalid partition name specified") != std::string::npos);
  CHECK(entries(jobs.cluster.jobs_dir()).empty());
}

TEST_CASE("a Slurm job asking more cpus than the node has, or a GPU it does not have, is a SlurmError carrying Slurm's message") {
  SlurmWatchdog watchdog("slurm too much");
  SlurmJobs jobs;
  JobRequest huge = shell_job("huge", "true");
  huge.resources.cpu = 4096;
  const std::string error = error_of_launch(jobs.cluster, huge);
  MESSAGE("Slurm said: " << error);
  CHECK(error.starts_with("sbatch: "));
  CHECK(error.find("error") != std::string::npos);
  JobRequest gpu = shell_job("gpu", "true");
  gpu.resources.with_gpu(1);
  const std::string gpu_error = error_of_launch(jobs.cluster, gpu);
  MESSAGE("Slurm said: " << gpu_error);
  CHECK(gpu_error.find("gres") != std::string::npos);
  CHECK(entries(jobs.cluster.jobs_dir()).empty());
}

TEST_CASE("a Slurm launch while the controller does not answer is a SlurmError carrying Slurm's message") {
  SlurmWatchdog watchdog("slurm controller down", 180s);
  SlurmJobs jobs;
  // The same cluster's configuration, pointing at a port no controller listens on.
  const char* conf = std::getenv("SLURM_CONF");
  REQUIRE(conf != nullptr);
  std::string text = read_text(conf);
  const auto at = text.find("SlurmctldPort=");
  REQUIRE(at != std::string::npos);
  text.replace(at, text.find('\n', at) - at, "SlurmctldPort=9");
  const fs::path down = jobs.cache / "down.conf";
  write_text(down, text);
  ScopedEnv env("SLURM_CONF", down.string());
  const std::string error = error_of_launch(jobs.cluster, shell_job("down", "true"));
  MESSAGE("Slurm said: " << error);
  CHECK(error.find("Unable to contact slurm controller") != std::string::npos);
  CHECK(entries(jobs.cluster.jobs_dir()).empty());
}

TEST_CASE("a Python callable entrypoint runs on Slurm in the job's env, and each replica's result is kept with the job") {
  SlurmWatchdog watchdog("slurm Python entrypoint", 300s);
  SlurmJobs jobs;
  JobRequest call;
  call.name = "call";
  call.entrypoint = Entrypoint::python("fray_probe.calls:add", 40, kw("b", 2));
  call.environment.venv = probe_options(shared_cache(), 2);
  call.replicas = 2;
  const JobInfo called = jobs.cluster.wait(jobs.cluster.launch(call), 240s);
  INFO(called.error);
  CHECK(called.status == JobStatus::succeeded);
  REQUIRE(called.replicas.size() == 2);
  CHECK(called.replicas[0].result == std::optional<std::string>("42"));
  CHECK(called.replicas[1].result == std::optional<std::string>("42"));

  JobRequest stdlib;
  stdlib.name = "hypot";
  stdlib.entrypoint = Entrypoint::python("math:hypot", 3, 4);
  stdlib.environment.venv = venv_options(shared_cache());
  const JobInfo hypot = jobs.cluster.wait(jobs.cluster.launch(stdlib), 240s);
  CHECK(hypot.status == JobStatus::succeeded);
  REQUIRE(hypot.replicas.at(0).result.has_value());
  CHECK(boost::json::parse(*hypot.replicas.at(0).result).to_number<double>() == 5.0);

  JobRequest raising;
  raising.name = "raising";
  raising.entrypoint = Entrypoint::python("fray_probe.calls:fail", "no luck");
  raising.environment.venv = probe_options(shared_cache(), 2);
  const JobInfo raised = jobs.cluster.wait(jobs.cluster.launch(raising), 240s);
  CHECK(raised.status == JobStatus::failed);
  CHECK(raised.error.find("no luck") != std::string::npos);
}

TEST_CASE("a Python entrypoint on Slurm in an env built with an index password runs, and no file of the job or the cache holds the password") {
  SlurmWatchdog watchdog("slurm python job with an index password", 300s);
  SlurmJobs jobs;
  const std::string secret = "s3cretSlurmPassword";
  JobRequest call;
  call.name = "secret";
  call.entrypoint = Entrypoint::python("fray_probe.calls:add", 40, kw("b", 2));
  // --no-index: the index is never asked (the password only changes the key).
  call.environment.venv = probe_options(jobs.cache.path(), 2).with_index_url("http://user:" + secret + "@127.0.0.1:9/simple");
  call.replicas = 2;
  const JobInfo called = jobs.cluster.wait(jobs.cluster.launch(call), 240s);
  INFO(called.error);
  CHECK(called.status == JobStatus::succeeded);
  REQUIRE(called.replicas.size() == 2);
  CHECK(called.replicas[1].result == std::optional<std::string>("42"));
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(jobs.cache.path())) {
    if (!entry.is_regular_file() || entry.is_symlink()) continue;
    ++files;
    const std::string path = entry.path().string();
    CAPTURE(path);
    CHECK(read_text(entry.path()).find(secret) == std::string::npos);
  }
  CHECK(files > 10);  // the job's files and the env's were looked at
}

TEST_CASE("a failed Slurm job is resubmitted up to max_retries_failure times, keeping each attempt's logs tagged with the attempt") {
  SlurmWatchdog watchdog("slurm retries", 180s);
  SlurmJobs jobs;
  const fs::path marker = jobs.cache / "failed-once";
  JobRequest request = shell_job("flaky", fmt::format("if [ -e {0} ]; then echo second; else touch {0}; echo first; exit 1; fi",
                                                      marker.string()));
  request.max_retries_failure = 1;
  const JobId id = jobs.cluster.launch(request);
  const JobInfo info = jobs.cluster.wait(id, 150s);
  CHECK(info.status == JobStatus::succeeded);
  CHECK(info.attempt == 1);
  CHECK(jobs.cluster.logs(id) == "[replica-0] first\n[replica-0 attempt-1] second\n");
  // Without retries the same failure is final.
  fs::remove(marker);
  request.max_retries_failure = 0;
  const JobInfo failed = jobs.cluster.wait(jobs.cluster.launch(request), 90s);
  CHECK(failed.status == JobStatus::failed);
  CHECK(failed.attempt == 0);
}

TEST_CASE("a Slurm job whose node fails is resubmitted up to max_retries_preemption times, and each attempt's logs are kept") {
  SlurmWatchdog watchdog("slurm node failure", 180s);
  SlurmJobs jobs;
  const std::string node = trimmed(shell("sinfo --noheader --Node --format=%N | head -n1").out);
  REQUIRE(!node.empty());
  const fs::path marker = jobs.cache / "ran-once";
  JobRequest request = shell_job("nodefail", fmt::format("if [ -e {0} ]; then echo second; else touch {0}; echo first; exec sleep 1000; fi",
                                                         marker.string()));
  request.max_retries_preemption = 1;
  const JobId id = jobs.cluster.launch(request);
  REQUIRE(eventually([&] { return fs::exists(marker); }, 60s));
  REQUIRE(wait_until(jobs.cluster, id, JobStatus::running).status == JobStatus::running);
  const std::string first_native = jobs.cluster.poll(id).native_id;
  // The node goes down under the running job: Slurm ends it NODE_FAIL
  // (fray submits with --no-requeue), fray resubmits it.
  const ShellResult down = shell(fmt::format("scontrol update nodename={} state=down reason=fray-test", node));
  REQUIRE_MESSAGE(down.status == 0, down.err);
  CHECK(eventually([&] { return jobs.cluster.poll(id).attempt == 1; }, 60s));
  (void)shell(fmt::format("scontrol update nodename={} state=resume", node));  // ReturnToService may have done it already
  CHECK(eventually([&] {
    const std::string state = trimmed(shell(fmt::format("sinfo --noheader --Node --nodes={} --format=%T", node)).out);
    return state == "idle" || state == "mixed" || state == "allocated";
  }, 60s));
  const JobInfo info = jobs.cluster.wait(id, 120s);
  CHECK(info.status == JobStatus::succeeded);
  CHECK(info.attempt == 1);
  CHECK(info.native_id != first_native);
  CHECK(scontrol_show(first_native).find("JobState=NODE_FAIL") != std::string::npos);
  const std::string logs = jobs.cluster.logs(id);
  CHECK(has_line(logs, "[replica-0] first"));
  CHECK(has_line(logs, "[replica-0 attempt-1] second"));
}

TEST_CASE("a Slurm job that Slurm no longer knows is failed with that reason, not running forever") {
  SlurmWatchdog watchdog("slurm forgotten job");
  SlurmJobs jobs;
  const JobId id = jobs.cluster.launch(shell_job("forgotten", "true"));
  jobs.cluster.wait(id, 90s);
  // As if Slurm had purged it while fray thought it ran: a job id Slurm never gave.
  const fs::path status_file = jobs.cluster.jobs_dir() / id / "status.json";
  std::string status = read_text(status_file);
  const auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = status.find(from);
    REQUIRE(at != std::string::npos);
    status.replace(at, from.size(), to);
  };
  replace("\"status\":\"succeeded\"", "\"status\":\"running\"");
  const JobInfo before = jobs.cluster.poll(id);
  replace("\"native_id\":\"" + before.native_id + "\"", "\"native_id\":\"99999999\"");
  write_text(status_file, status);
  const JobInfo info = jobs.cluster.poll(id);
  CHECK(info.status == JobStatus::failed);
  CHECK(info.error.find("Slurm no longer knows job 99999999") != std::string::npos);
}

TEST_CASE("a Slurm job's status and logs survive its submitter: a new cluster object and the fray command see them") {
  SlurmWatchdog watchdog("slurm state survives");
  SlurmJobs jobs;
  JobId id;
  {
    SlurmCluster first;
    id = first.launch(shell_job("survivor", "echo still here"));
  }
  SlurmCluster second;
  CHECK(second.wait(id, 90s).status == JobStatus::succeeded);
  CHECK(second.logs(id) == "[replica-0] still here\n");
  const ShellResult status = shell(fmt::format("{} job status --cluster slurm {}", kFrayCli, id));
  CHECK(status.status == 0);
  CHECK(status.out == "succeeded\nreplica-0 succeeded exit 0\n");
}

TEST_CASE("fray job drives Slurm from a shell: submit --cluster slurm --wait, status, logs, list, stop") {
  SlurmWatchdog watchdog("fray job --cluster slurm", 180s);
  SlurmJobs jobs;
  const std::string fray = kFrayCli;
  const ShellResult submitted = shell(fray + " job submit --cluster slurm --name greet --replicas 2 --env WHO=world --wait -- "
                                             "sh -c 'echo hello $WHO from $FRAY_REPLICA_ID'");
  INFO(submitted.err);
  CHECK(submitted.status == 0);
  const std::string id = trimmed(submitted.out);
  CHECK(id.starts_with("greet-"));
  CHECK(shell(fray + " job status --cluster slurm " + id).out == "succeeded\nreplica-0 succeeded exit 0\nreplica-1 succeeded exit 0\n");
  CHECK(shell(fray + " job logs --cluster slurm " + id).out == "[replica-0] hello world from 0\n[replica-1] hello world from 1\n");
  CHECK(shell(fray + " job wait --cluster slurm " + id).status == 0);

  const ShellResult failing = shell(fray + " job submit --cluster slurm --wait -- sh -c 'exit 4'");
  CHECK(failing.status == 1);
  CHECK(failing.err.find("exited with status 4") != std::string::npos);

  const std::string nap = trimmed(shell(fray + " job submit --cluster slurm --name nap -- sleep 1000").out);
  CHECK(nap.starts_with("nap-"));
  CHECK(shell(fray + " job list --cluster slurm").out.find(nap) != std::string::npos);
  const ShellResult stopped = shell(fray + " job stop --cluster slurm " + nap);
  CHECK(stopped.status == 0);
  CHECK(stopped.out == nap + " stopped\n");
  CHECK(shell(fray + " job wait --cluster slurm " + nap).status == 1);
  const ShellResult bad = shell(fray + " job submit --cluster 'slurm?time=soon' -- true");
  CHECK(bad.status != 0);
  CHECK(bad.err.find("time=soon") != std::string::npos);
}
