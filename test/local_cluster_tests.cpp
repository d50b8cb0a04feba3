// The local cluster: jobs with replicas, resources and envs on this machine,
// run by detached supervisors, seen by any process (Python Fray's cluster
// cases, and the local backend's own: admission, retries, a supervisor
// killed mid-job, state surviving a new process, `fray job` from a shell).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>

#include <set>

#include <fray/fray.hpp>
#include <fray/jobs.hpp>

#include <boost/json.hpp>

#include "test_support.hpp"
#include "venv_test_support.hpp"

using namespace fray;
using namespace fray_test;
using namespace std::chrono_literals;

namespace {

const std::string kJobProbe = FRAY_BUILD_DIR "/test/job_runtime_probe";
const std::string kClusterDriver = FRAY_BUILD_DIR "/test/local_cluster_driver";

// A jobs directory of its own and a cluster of 2 cpus on it; stops what
// is still running when it goes, so no test leaves a job behind.
struct Jobs {
  TempDir dir{"fray-jobs-"};
  LocalCluster cluster;
  explicit Jobs(double cpu = 2)
      : cluster(LocalClusterOptions{}.with_jobs_dir(dir.path()).with_cpu(cpu).with_gpu(0).with_kill_grace(2s)) {}
  ~Jobs() {
    for (const JobInfo& info : cluster.list()) {
      if (!is_finished(info.status)) cluster.terminate(info.id);
    }
  }
};

JobRequest shell_job(std::string name, const std::string& script) {
  JobRequest request;
  request.name = std::move(name);
  request.entrypoint = Entrypoint::binary({"/bin/sh", "-c", script});
  return request;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

// Every non-empty line starts with a [replica-N] tag.
bool every_line_tagged(const std::string& text) {
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    if (!line.starts_with("[replica-")) return false;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return true;
}

int read_pid(const fs::path& file) {
  int pid = 0;
  eventually([&] {
    pid = std::atoi(read_text(file).c_str());
    return pid > 0;
  });
  return pid;
}

JobInfo wait_until(Cluster& cluster, const JobId& id, JobStatus status) {
  JobInfo info;
  eventually([&] {
    info = cluster.poll(id);
    return info.status == status || is_finished(info.status);
  }, 30s);
  return info;
}

// The pids of the spare supervisors (started ahead, by
// keep_spare_supervisor) of the cluster at `jobs_dir`, with the one
// running a job it took.
std::vector<int> spare_supervisors(const fs::path& jobs_dir) {
  std::vector<int> pids;
  for (const auto& name : entries("/proc")) {
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::string cmdline = read_text("/proc/" + name + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    const int pid = std::atoi(name.c_str());
    if (cmdline.find(" spare " + jobs_dir.string() + " ") != std::string::npos && !process_gone(pid)) pids.push_back(pid);
  }
  return pids;
}

// The spare supervisor that will take the cluster's next job: the process
// its first one forked, no longer this process's child.
std::vector<int> forked_spare_supervisors(const fs::path& jobs_dir) {
  std::vector<int> pids = spare_supervisors(jobs_dir);
  std::erase_if(pids, [](int pid) { return parent_of(pid) == ::getpid(); });
  return pids;
}

// Runs `request` on `cluster` to its end.
JobInfo run_job(LocalCluster& cluster, const JobRequest& request) { return cluster.wait(cluster.launch(request), 30s); }

// From its second launch on, a cluster keeps a spare supervisor: two
// launches, so that one is started.
void launch_twice_for_a_spare(Jobs& jobs) {
  REQUIRE(run_job(jobs.cluster, shell_job("first", "true")).status == JobStatus::succeeded);
  REQUIRE(run_job(jobs.cluster, shell_job("second", "true")).status == JobStatus::succeeded);
}

}  // namespace

TEST_CASE("a launched job polls back with the same id and name, is listed, and succeeds with no error") {
  Watchdog watchdog("launch, poll, list, wait", 60s);
  Jobs jobs;
  const JobId id = jobs.cluster.launch(shell_job("hello", "echo hello from $FRAY_JOB_NAME"));
  const JobInfo polled = jobs.cluster.poll(id);
  CHECK(polled.id == id);
  CHECK(polled.name == "hello");
  const auto listed = jobs.cluster.list();
  CHECK(std::any_of(listed.begin(), listed.end(), [&](const JobInfo& info) { return info.id == id; }));
  const JobInfo done = jobs.cluster.wait(id, 30s, /*raise_on_failure=*/true);
  CHECK(done.status == JobStatus::succeeded);
  CHECK(done.error.empty());
  REQUIRE(done.replicas.size() == 1);
  CHECK(done.replicas[0].exit_code == 0);
  CHECK(done.started.has_value());
  CHECK(done.ended.has_value());
  CHECK(jobs.cluster.logs(id) == "[replica-0] hello from hello\n");
}

TEST_CASE("a job sees its env vars, its ids, its resources and the cluster spec, and runs in the submitter's directory") {
  Watchdog watchdog("job environment", 60s);
  Jobs jobs;
  JobRequest request = shell_job("envjob", "echo \"$GREETING|$FRAY_JOB_ID|$FRAY_JOB_NAME|$FRAY_REPLICA_ID|$FRAY_REPLICA_COUNT|"
                                           "$FRAY_CLUSTER_SPEC|$FRAY_JOB_CPU|$(pwd)\"");
  request.environment.env_vars["GREETING"] = "hi there";
  request.resources.cpu = 0.5;
  const JobId id = jobs.cluster.launch(request);
  REQUIRE(jobs.cluster.wait(id, 30s).status == JobStatus::succeeded);
  const std::string expected = fmt::format("[replica-0] hi there|{}|envjob|0|1|{}|0.5|{}\n", id, jobs.cluster.spec(),
                                           fs::current_path().string());
  CHECK(jobs.cluster.logs(id) == expected);
  // The spec names this very cluster: nested code launches on it.
  auto nested = connect_cluster(jobs.cluster.spec());
  CHECK(nested->poll(id).status == JobStatus::succeeded);
}

TEST_CASE("a job with 3 replicas where replica 1 exits 1 is failed, names replica 1, and keeps every replica's output tagged") {
  Watchdog watchdog("three replicas", 60s);
  Jobs jobs;
  JobRequest request = shell_job("three", "echo start $FRAY_REPLICA_ID; [ $FRAY_REPLICA_ID = 1 ] && exit 1; echo end $FRAY_REPLICA_ID");
  request.replicas = 3;
  request.resources.cpu = 0.5;
  const JobId id = jobs.cluster.launch(request);
  const JobInfo info = jobs.cluster.wait(id, 30s);
  CHECK(info.status == JobStatus::failed);
  REQUIRE(info.replicas.size() == 3);
  CHECK(info.replicas[0].status == JobStatus::succeeded);
  CHECK(info.replicas[1].status == JobStatus::failed);
  CHECK(info.replicas[1].exit_code == 1);
  CHECK(info.replicas[2].status == JobStatus::succeeded);
  CHECK(info.error.find("replica 1: exited with status 1") != std::string::npos);
  const std::string logs = jobs.cluster.logs(id);
  CHECK(has_line(logs, "[replica-0] start 0"));
  CHECK(has_line(logs, "[replica-0] end 0"));
  CHECK(has_line(logs, "[replica-1] start 1"));
  CHECK(logs.find("end 1") == std::string::npos);
  CHECK(has_line(logs, "[replica-2] end 2"));
  CHECK(every_line_tagged(logs));
  CHECK(jobs.cluster.logs(id, LogOptions{.replica = 2, .tagged = false}) == "start 2\nend 2\n");
}

TEST_CASE("wait with raise_on_failure throws one error naming every failed job, and a timeout names the unfinished ones") {
  Watchdog watchdog("wait errors", 60s);
  Jobs jobs;
  const JobId bad1 = jobs.cluster.launch(shell_job("bad1", "exit 3"));
  const JobId bad2 = jobs.cluster.launch(shell_job("bad2", "kill -KILL $$"));
  try {
    jobs.cluster.wait({bad1, bad2}, 30s, /*raise_on_failure=*/true);
    FAIL("wait did not throw");
  } catch (const JobFailed& e) {
    CHECK(e.jobs().size() == 2);
    const std::string what = e.what();
    CHECK(what.find(bad1) != std::string::npos);
    CHECK(what.find("exited with status 3") != std::string::npos);
    CHECK(what.find(bad2) != std::string::npos);
    CHECK(what.find("killed by SIGKILL") != std::string::npos);
  }
  const JobId slow = jobs.cluster.launch(shell_job("slow", "sleep 60"));
  CHECK_THROWS_AS(jobs.cluster.wait(slow, 200ms), JobWaitTimeout);
}

TEST_CASE("terminating a running job stops every process it started and marks it stopped") {
  Watchdog watchdog("terminate running", 60s);
  Jobs jobs;
  const fs::path pid_file = jobs.dir / "grandchild.pid";
  const JobId id = jobs.cluster.launch(shell_job("sleeper", fmt::format("sleep 1000 & echo $! > {}; wait", pid_file.string())));
  const int grandchild = read_pid(pid_file);
  REQUIRE(grandchild > 0);
  CHECK(wait_until(jobs.cluster, id, JobStatus::running).status == JobStatus::running);
  jobs.cluster.terminate(id);
  const JobInfo info = jobs.cluster.poll(id);
  CHECK(info.status == JobStatus::stopped);
  CHECK(info.replicas.at(0).status == JobStatus::stopped);
  CHECK(eventually([&] { return process_gone(grandchild); }));
  // Terminating a finished job leaves it as it is.
  jobs.cluster.terminate(id);
  CHECK(jobs.cluster.poll(id).status == JobStatus::stopped);
}

TEST_CASE("jobs that do not fit together run one after the other, in submission order, and a pending job stops without running") {
  Watchdog watchdog("admission", 90s);
  Jobs jobs(/*cpu=*/2);
  const fs::path go = jobs.dir / "go", second_ran = jobs.dir / "second-ran", third_ran = jobs.dir / "third-ran";
  JobRequest first = shell_job("first", fmt::format("while [ ! -e {} ]; do sleep 0.02; done", go.string()));
  first.resources.cpu = 2;
  JobRequest second = shell_job("second", fmt::format("touch {}", second_ran.string()));
  second.resources.cpu = 2;
  JobRequest third = shell_job("third", fmt::format("touch {}", third_ran.string()));
  third.resources.cpu = 2;
  const JobId a = jobs.cluster.launch(first);
  REQUIRE(wait_until(jobs.cluster, a, JobStatus::running).status == JobStatus::running);
  const JobId b = jobs.cluster.launch(second);
  const JobId c = jobs.cluster.launch(third);
  // The first holds both cpus until it is told to go: the others wait.
  std::this_thread::sleep_for(300ms);
  CHECK(jobs.cluster.poll(b).status == JobStatus::pending);
  CHECK(jobs.cluster.poll(c).status == JobStatus::pending);
  CHECK_FALSE(fs::exists(second_ran));
  jobs.cluster.terminate(c);
  CHECK(jobs.cluster.poll(c).status == JobStatus::stopped);
  write_text(go, "");
  CHECK(jobs.cluster.wait(a, 30s).status == JobStatus::succeeded);
  CHECK(jobs.cluster.wait(b, 30s).status == JobStatus::succeeded);
  CHECK(fs::exists(second_ran));
  CHECK_FALSE(fs::exists(third_ran));
  CHECK(jobs.cluster.logs(c).empty());
}

TEST_CASE("a job that can never fit, or has a bad name or no command, is refused at launch and leaves nothing behind") {
  Jobs jobs(/*cpu=*/2);
  JobRequest huge = shell_job("huge", "true");
  huge.resources.cpu = 2;
  huge.replicas = 2;
  try {
    jobs.cluster.launch(huge);
    FAIL("a job needing 4 cpus of 2 was launched");
  } catch (const JobRejected& e) {
    CHECK(std::string(e.what()).find("can never run") != std::string::npos);
  }
  JobRequest gpu = shell_job("gpu", "true");
  gpu.resources.with_gpu(1);
  CHECK_THROWS_AS(jobs.cluster.launch(gpu), JobRejected);
  CHECK_THROWS_AS(jobs.cluster.launch(shell_job("has space", "true")), InvalidJobRequest);
  CHECK_THROWS_AS(jobs.cluster.launch(shell_job("a/b", "true")), InvalidJobRequest);
  CHECK_THROWS_AS(jobs.cluster.launch(shell_job("", "true")), InvalidJobRequest);
  JobRequest empty;
  empty.name = "empty";
  CHECK_THROWS_AS(jobs.cluster.launch(empty), InvalidJobRequest);
  JobRequest no_replicas = shell_job("none", "true");
  no_replicas.replicas = 0;
  CHECK_THROWS_AS(jobs.cluster.launch(no_replicas), InvalidJobRequest);
  CHECK_THROWS_AS(ResourceConfig{}.with_ram("lots"), InvalidJobRequest);
  CHECK(ResourceConfig{}.with_ram("512m").ram == 512ull << 20);
  CHECK(jobs.cluster.list().empty());
  CHECK_THROWS_AS(jobs.cluster.poll("no-such-job"), JobNotFound);
  CHECK_THROWS_AS(jobs.cluster.poll("../etc"), JobNotFound);
}

TEST_CASE("a failed job runs again up to max_retries_failure times, keeping each attempt's logs tagged with the attempt") {
  Watchdog watchdog("retries", 60s);
  Jobs jobs;
  const fs::path marker = jobs.dir / "failed-once";
  JobRequest request = shell_job("flaky", fmt::format("if [ -e {0} ]; then echo second; else touch {0}; echo first; exit 1; fi",
                                                      marker.string()));
  request.max_retries_failure = 1;
  const JobId id = jobs.cluster.launch(request);
  const JobInfo info = jobs.cluster.wait(id, 30s);
  CHECK(info.status == JobStatus::succeeded);
  CHECK(info.attempt == 1);
  CHECK(jobs.cluster.logs(id) == "[replica-0] first\n[replica-0 attempt-1] second\n");
  // Without retries the same failure is final.
  fs::remove(marker);
  request.max_retries_failure = 0;
  CHECK(jobs.cluster.wait(jobs.cluster.launch(request), 30s).status == JobStatus::failed);
}

TEST_CASE("a job in an isolated env runs with its package, and a Python entrypoint's result is kept with the job") {
  Watchdog watchdog("env job and Python entrypoint", 180s);
  Jobs jobs;
  JobRequest in_env = shell_job("inenv", "python -c 'import fray_probe; print(fray_probe.__version__)'");
  in_env.environment.venv = probe_options(shared_cache(), 2);
  const JobId env_job = jobs.cluster.launch(in_env);
  CHECK(jobs.cluster.wait(env_job, 150s).status == JobStatus::succeeded);
  CHECK(jobs.cluster.logs(env_job) == "[replica-0] 2.0\n");

  JobRequest call;
  call.name = "call";
  call.entrypoint = Entrypoint::python("fray_probe.calls:add", 40, kw("b", 2));
  call.environment.venv = probe_options(shared_cache(), 2);
  call.replicas = 2;
  call.resources.cpu = 0.5;
  const JobInfo called = jobs.cluster.wait(jobs.cluster.launch(call), 150s);
  CHECK(called.status == JobStatus::succeeded);
  REQUIRE(called.replicas.size() == 2);
  CHECK(called.replicas[0].result == std::optional<std::string>("42"));
  CHECK(called.replicas[1].result == std::optional<std::string>("42"));

  JobRequest raising;
  raising.name = "raising";
  raising.entrypoint = Entrypoint::python("fray_probe.calls:fail", "no luck");
  raising.environment.venv = probe_options(shared_cache(), 2);
  const JobInfo raised = jobs.cluster.wait(jobs.cluster.launch(raising), 150s);
  CHECK(raised.status == JobStatus::failed);
  CHECK(raised.error.find("no luck") != std::string::npos);
}

TEST_CASE("a Python job's argument nested 500 levels deep reaches its function and comes back intact") {
  Watchdog watchdog("a deep argument through a job", 180s);
  Jobs jobs;
  boost::json::value deep = boost::json::array{1};
  for (int level = 1; level < 500; ++level) deep = level % 2 == 0 ? boost::json::value(boost::json::array{deep}) : boost::json::value(boost::json::object{{"k", deep}});
  JobRequest call;
  call.name = "deep";
  call.entrypoint = Entrypoint::python("fray_probe.calls:identity", deep);
  call.environment.venv = probe_options(shared_cache(), 2);
  const JobInfo called = jobs.cluster.wait(jobs.cluster.launch(call), 150s);
  INFO(called.error);
  CHECK(called.status == JobStatus::succeeded);
  REQUIRE(called.replicas.size() == 1);
  REQUIRE(called.replicas[0].result.has_value());
  boost::json::parse_options options;
  options.max_depth = 1000;
  CHECK(boost::json::parse(*called.replicas[0].result, {}, options) == deep);
}

TEST_CASE("a Runtime inside a job takes its capacity from the job's cpu, not the machine's") {
  Watchdog watchdog("runtime in a job", 60s);
  Jobs jobs(/*cpu=*/2);
  JobRequest request;
  request.name = "probe";
  request.entrypoint = Entrypoint::binary({kJobProbe});
  request.resources.cpu = 1;
  const JobId id = jobs.cluster.launch(request);
  REQUIRE(jobs.cluster.wait(id, 30s).status == JobStatus::succeeded);
  CHECK(jobs.cluster.logs(id) ==
        "[replica-0] allocation cpu 1\n[replica-0] a task asking cpu 1: ran\n[replica-0] a task asking cpu 2: unschedulable\n");
}

TEST_CASE("a supervisor killed mid-job leaves its job failed with the reason, its processes gone and its share free") {
  Watchdog watchdog("killed supervisor", 90s);
  Jobs jobs(/*cpu=*/1);
  const fs::path pid_file = jobs.dir / "replica.pid";
  const JobId id = jobs.cluster.launch(shell_job("doomed", fmt::format("echo $$ > {}; exec sleep 1000", pid_file.string())));
  const int replica = read_pid(pid_file);
  REQUIRE(wait_until(jobs.cluster, id, JobStatus::running).status == JobStatus::running);
  const int supervisor = std::atoi(read_text(jobs.dir / id / "supervisor.pid").c_str());
  REQUIRE(supervisor > 0);
  REQUIRE(::kill(supervisor, SIGKILL) == 0);
  const JobInfo info = wait_until(jobs.cluster, id, JobStatus::failed);
  CHECK(info.status == JobStatus::failed);
  CHECK(info.error.find("supervisor died") != std::string::npos);
  CHECK(eventually([&] { return process_gone(replica); }));
  // The dead supervisor's cpu is reclaimed: a job needing the whole machine runs.
  const JobId next = jobs.cluster.launch(shell_job("next", "echo ran"));
  CHECK(jobs.cluster.wait(next, 30s).status == JobStatus::succeeded);
}

TEST_CASE("a job's status and logs survive its submitter: a new cluster object and the fray command see them") {
  Watchdog watchdog("state survives", 60s);
  TempDir cache("fray-jobs-cache-");
  JobId id;
  {
    LocalCluster first(LocalClusterOptions{}.with_jobs_dir(cache / "jobs"));
    id = first.launch(shell_job("survivor", "echo still here"));
    first.wait(id, 30s);
  }
  LocalCluster second(LocalClusterOptions{}.with_jobs_dir(cache / "jobs"));
  CHECK(second.poll(id).status == JobStatus::succeeded);
  CHECK(second.logs(id) == "[replica-0] still here\n");
  const ShellResult status = shell(fmt::format("FRAY_CACHE_DIR={} {} job status {}", cache.path().string(), kFrayCli, id));
  CHECK(status.status == 0);
  CHECK(status.out == "succeeded\nreplica-0 succeeded exit 0\n");
}

TEST_CASE("a job launched with die_with_submitter stops when its submitter is killed") {
  Watchdog watchdog("die with submitter", 60s);
  TempDir cache("fray-jobs-cache-");
  const fs::path pid_file = cache / "replica.pid";
  // The submitter is `fray job submit --attach --wait`, SIGKILLed while its job runs.
  const std::string command = fmt::format("FRAY_CACHE_DIR={} exec {} job submit --attach --wait --name attached -- /bin/sh -c "
                                          "'echo $$ > {}; exec sleep 1000' > {}",
                                          cache.path().string(), kFrayCli, pid_file.string(), (cache / "id").string());
  pid_t submitter = 0;
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  REQUIRE(::posix_spawn(&submitter, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) == 0);
  const int replica = read_pid(pid_file);
  REQUIRE(replica > 0);
  ::kill(submitter, SIGKILL);
  ::waitpid(submitter, nullptr, 0);
  const JobId id = trimmed(read_text(cache / "id"));
  LocalCluster cluster(LocalClusterOptions{}.with_jobs_dir(cache / "jobs"));
  const JobInfo info = wait_until(cluster, id, JobStatus::stopped);
  CHECK(info.status == JobStatus::stopped);
  INFO(info.error);
  CHECK(info.error.find("launched it ended") != std::string::npos);
  CHECK(eventually([&] { return process_gone(replica); }));
}

TEST_CASE("wait and the log follow have awaitable forms that run as tasks of a Runtime") {
  Watchdog watchdog("awaitable wait and follow", 60s);
  Jobs jobs;
  const JobId id = jobs.cluster.launch(shell_job("counter", "for i in 1 2 3; do echo line $i; sleep 0.05; done"));
  Runtime runtime(RuntimeOptions{}.with_threads(2));
  auto lines = jobs.cluster.follow_logs_async(runtime.context(), id);
  std::vector<std::string> seen;
  while (auto line = lines.next_blocking()) seen.push_back(*line);
  CHECK(seen == std::vector<std::string>{"[replica-0] line 1", "[replica-0] line 2", "[replica-0] line 3"});
  const auto infos = jobs.cluster.wait_async(runtime.context(), {id}).get();
  CHECK(infos.at(0).status == JobStatus::succeeded);
  std::vector<std::string> followed;
  jobs.cluster.follow_logs(id, [&](std::string_view line) { followed.emplace_back(line); });
  CHECK(followed == seen);
}

TEST_CASE("gc removes finished jobs older than the bound and never a running one") {
  Watchdog watchdog("gc", 60s);
  Jobs jobs;
  const JobId done = jobs.cluster.launch(shell_job("done", "true"));
  jobs.cluster.wait(done, 30s);
  const JobId running = jobs.cluster.launch(shell_job("running", "sleep 1000"));
  wait_until(jobs.cluster, running, JobStatus::running);
  CHECK(jobs.cluster.gc(JobClock::now() - 1h) == 0);
  CHECK(jobs.cluster.gc(JobClock::now() + 1h) == 1);
  CHECK_THROWS_AS(jobs.cluster.poll(done), JobNotFound);
  CHECK(jobs.cluster.poll(running).status == JobStatus::running);
}

TEST_CASE("cluster specs name local or slurm, and an unknown scheme, key or value is an error naming it") {
  CHECK(ClusterSpec::parse("local").scheme == "local");
  const ClusterSpec spec = ClusterSpec::parse("local?cpu=8&ram=32g&gpu=2");
  CHECK(*spec.find("cpu") == "8");
  const LocalClusterOptions options = LocalClusterOptions::from_spec(spec);
  CHECK(options.cpu == 8);
  CHECK(options.ram == std::optional<std::uint64_t>(32ull << 30));
  CHECK(options.gpu == 2);
  CHECK(ClusterSpec::parse("slurm?partition=debug&time=01:00:00").params.at("partition") == "debug");
  try {
    ClusterSpec::parse("ray?namespace=x");
    FAIL("ray was accepted");
  } catch (const InvalidClusterSpec& e) {
    CHECK(std::string(e.what()).find("'ray'") != std::string::npos);
  }
  try {
    ClusterSpec::parse("local?cpus=8");
    FAIL("cpus was accepted");
  } catch (const InvalidClusterSpec& e) {
    CHECK(std::string(e.what()).find("'cpus'") != std::string::npos);
  }
  CHECK_THROWS_AS(LocalClusterOptions::from_spec(ClusterSpec::parse("local?cpu=-1")), InvalidClusterSpec);
  CHECK_THROWS_AS(LocalClusterOptions::from_spec(ClusterSpec::parse("local?ram=much")), InvalidClusterSpec);
}

TEST_CASE("fray job drives the local cluster from a shell: submit, status, logs, wait, list, stop, gc") {
  Watchdog watchdog("fray job from a shell", 90s);
  TempDir cache("fray-jobs-cache-");
  const std::string fray = fmt::format("FRAY_CACHE_DIR={} {}", cache.path().string(), kFrayCli);
  const ShellResult submitted = shell(fray + " job submit --name greet --replicas 2 --cpu 0.5 --env WHO=world --wait -- "
                                             "sh -c 'echo hello $WHO from $FRAY_REPLICA_ID'");
  CHECK(submitted.status == 0);
  const std::string id = trimmed(submitted.out);
  CHECK(id.starts_with("greet-"));
  const ShellResult status = shell(fray + " job status " + id);
  CHECK(status.out == "succeeded\nreplica-0 succeeded exit 0\nreplica-1 succeeded exit 0\n");
  const ShellResult logs = shell(fray + " job logs " + id);
  CHECK(logs.out == "[replica-0] hello world from 0\n[replica-1] hello world from 1\n");
  CHECK(shell(fray + " job logs --replica 1 --no-tags " + id).out == "hello world from 1\n");
  CHECK(shell(fray + " job wait " + id).status == 0);

  const ShellResult failing = shell(fray + " job submit --follow -- sh -c 'echo about to fail; exit 4'");
  CHECK(failing.status == 1);
  CHECK(failing.out.find("[replica-0] about to fail\n") != std::string::npos);
  CHECK(failing.err.find("exited with status 4") != std::string::npos);

  const ShellResult sleeping = shell(fray + " job submit --name nap -- sleep 1000");
  const std::string nap = trimmed(sleeping.out);
  CHECK(shell(fray + " job list").out.find(nap) != std::string::npos);
  CHECK(shell(fray + " job list").out.find(id) == std::string::npos);
  CHECK(shell(fray + " job list --all").out.find(id) != std::string::npos);
  CHECK(shell(fray + " job wait --timeout 0.2 " + nap).status == 124);
  const ShellResult stopped = shell(fray + " job stop " + nap);
  CHECK(stopped.status == 0);
  CHECK(stopped.out == nap + " stopped\n");
  CHECK(shell(fray + " job wait " + nap).status == 1);
  CHECK(shell(fray + " job gc --older-than 0").out == "removed 3 finished jobs\n");

  const ShellResult called = shell(fray + " job call --python /usr/bin/python3 --wait math:hypot 3 4");
  CHECK(called.status == 0);
  CHECK(shell(fray + " job status " + trimmed(called.out)).out == "succeeded\nreplica-0 succeeded exit 0 result 5.0\n");

  const ShellResult bad = shell(fray + " job submit --replicas zero -- true");
  CHECK(bad.status == 2);
  CHECK(count_lines(bad.err) == 1);
  CHECK(shell(fray + " job submit --cpu 64 -- true").status == 1);
  CHECK(shell(fray + " job status no-such-job").status == 1);
  CHECK(shell(fray + " job --help").out.find("submit") != std::string::npos);
  CHECK(shell(fray + " job submit --help").out.find("--replicas") != std::string::npos);
}

TEST_CASE("under a umask of 002 the jobs fray makes in a new cache are private, and the env cache still opens after them") {
  Watchdog watchdog("jobs under umask 002", 120s);
  TempDir dir;
  const fs::path cache = dir / "new" / "cache";  // neither exists yet: fray makes both
  const std::string umask = "umask 002 && ";
  const ShellResult listed = shell(umask + fray_command(cache, "job list"));
  INFO(listed.err);
  CHECK(listed.status == 0);
  const ShellResult submitted = shell(umask + fray_command(cache, "job submit --wait -- true"));
  INFO(submitted.err);
  CHECK(submitted.status == 0);
  for (const fs::path& made : {dir / "new", cache, cache / "jobs"}) {
    CAPTURE(made);
    struct stat st {};
    REQUIRE(::stat(made.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
  }
  const ShellResult created = shell(umask + fray_command(cache, fmt::format("venv create --quiet --python {}", kSystemPython)));
  INFO(created.err);
  CHECK(created.status == 0);
}

// --- Supervisors started ahead (keep_spare_supervisor) ----------------------

TEST_CASE("a spare supervisor runs its job with the submitter's environment and directory at launch, not those it started with") {
  Watchdog watchdog("a spare supervisor's environment", 90s);
  Jobs jobs;
  ::unsetenv("FRAY_SPARE_PROBE");
  launch_twice_for_a_spare(jobs);
  REQUIRE(eventually([&] { return spare_supervisors(jobs.dir.path()).size() == 1; }));
  TempDir elsewhere("fray-jobs-cwd-");
  const fs::path before = fs::current_path();
  ::setenv("FRAY_SPARE_PROBE", "changed", 1);
  fs::current_path(elsewhere.path());
  const JobRequest probe = shell_job("probe", "echo \"probe=$FRAY_SPARE_PROBE\"; pwd");
  const JobId third = jobs.cluster.launch(probe);
  const JobId fourth = jobs.cluster.launch(probe);  // the spare started after the change
  fs::current_path(before);
  ::unsetenv("FRAY_SPARE_PROBE");
  for (const JobId& id : {third, fourth}) {
    REQUIRE(jobs.cluster.wait(id, 30s).status == JobStatus::succeeded);
    const std::string logs = jobs.cluster.logs(id);
    CHECK_MESSAGE(has_line(logs, "[replica-0] probe=changed"), logs);
    CHECK_MESSAGE(has_line(logs, "[replica-0] " + elsewhere.path().string()), logs);
  }
}

TEST_CASE("a cluster keeps one spare supervisor from its second launch on, and none outlives the cluster") {
  Watchdog watchdog("spare supervisors' lifetime", 90s);
  TempDir dir("fray-jobs-");
  std::set<int> spares;
  {
    LocalCluster cluster(LocalClusterOptions{}.with_jobs_dir(dir.path()).with_cpu(2).with_gpu(0));
    REQUIRE(run_job(cluster, shell_job("one", "true")).status == JobStatus::succeeded);
    CHECK(spare_supervisors(dir.path()).empty());  // a program that launches once starts no spare
    for (const char* name : {"two", "three", "four"}) {
      REQUIRE(run_job(cluster, shell_job(name, "true")).status == JobStatus::succeeded);
      // The one that ran the job has ended; the next is waiting.
      CHECK(eventually([&] { return spare_supervisors(dir.path()).size() == 1; }));
      for (int pid : spare_supervisors(dir.path())) spares.insert(pid);
    }
  }
  CHECK(eventually([&] { return spare_supervisors(dir.path()).empty(); }));
  CHECK(zombie_children() == 0);
  // Nor the child guard each started ahead for its job's first replica.
  for (int pid : spares) {
    CHECK(eventually([&] { return processes_mentioning(fmt::format("fray-child-guard 3 {} ", pid)) == 0; }));
  }
  // Sent away unused, it wrote nothing: only the four jobs are there.
  LocalCluster again(LocalClusterOptions{}.with_jobs_dir(dir.path()));
  CHECK(again.list().size() == 4);
}

TEST_CASE("with keep_spare_supervisor off, no supervisor is started ahead") {
  Watchdog watchdog("no spare supervisor", 90s);
  TempDir dir("fray-jobs-");
  LocalCluster cluster(LocalClusterOptions{}.with_jobs_dir(dir.path()).with_cpu(2).with_gpu(0).with_spare_supervisor(false));
  for (const char* name : {"one", "two", "three"}) {
    REQUIRE(run_job(cluster, shell_job(name, "true")).status == JobStatus::succeeded);
  }
  CHECK(spare_supervisors(dir.path()).empty());
}

TEST_CASE("a spare supervisor killed by someone is replaced, and the launch it would have served still runs once") {
  Watchdog watchdog("a killed spare supervisor", 90s);
  Jobs jobs;
  launch_twice_for_a_spare(jobs);
  std::vector<int> spares;
  REQUIRE(eventually([&] { return (spares = spare_supervisors(jobs.dir.path())).size() == 1; }));
  REQUIRE(::kill(spares[0], SIGKILL) == 0);
  REQUIRE(eventually([&] { return process_gone(spares[0]); }));
  const fs::path ran = jobs.dir / "ran";
  const JobInfo info = run_job(jobs.cluster, shell_job("after", fmt::format("echo x >> {}", ran.string())));
  CHECK(info.status == JobStatus::succeeded);
  CHECK(read_text(ran) == "x\n");
  CHECK(eventually([&] { return spare_supervisors(jobs.dir.path()).size() == 1; }));  // a new one waits
}

TEST_CASE("a spare supervisor killed after it took a job, before it started it, leaves the launch to a fresh one that runs it once") {
  Watchdog watchdog("a spare killed while taking a job", 90s);
  Jobs jobs;
  launch_twice_for_a_spare(jobs);
  std::vector<int> spares;
  REQUIRE(eventually([&] { return (spares = forked_spare_supervisors(jobs.dir.path())).size() == 1; }));
  const int spare = spares[0];
  // Holding the ledger's lock stops the spare in the middle of recording
  // the job it takes: it has its lock and wrote its pid file, and waits to
  // enqueue. Killed there, it has said nothing on its ready pipe.
  const int ledger_lock = ::open((jobs.dir / "ledger.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(ledger_lock >= 0);
  const int locked = ::flock(ledger_lock, LOCK_EX);  // (in REQUIRE, doctest would take flock for fcntl.h's struct)
  REQUIRE(locked == 0);
  const fs::path ran = jobs.dir / "ran";
  std::optional<JobId> id;
  std::string error;
  std::thread launcher([&] {
    try {
      id = jobs.cluster.launch(shell_job("after", fmt::format("echo x >> {}", ran.string())));
    } catch (const std::exception& e) {  // any error, so that it fails the test instead of ending the program
      error = e.what();
    }
  });
  const std::string spare_pid_file_line = fmt::format("{} ", spare);
  const bool spare_recording = eventually([&] {
    for (const auto& name : entries(jobs.dir.path())) {
      if (read_text(jobs.dir / name / "supervisor.pid").starts_with(spare_pid_file_line)) return true;
    }
    return false;
  }, 30s);
  ::kill(spare, SIGKILL);
  ::close(ledger_lock);
  launcher.join();
  REQUIRE(spare_recording);
  INFO(error);
  REQUIRE(id.has_value());
  const JobInfo info = jobs.cluster.wait(*id, 30s);
  CHECK(info.status == JobStatus::succeeded);
  CHECK(read_text(ran) == "x\n");
}

TEST_CASE("a job supervisor built without sanitizers loads no C++ library") {
  // The shared libraries the supervisor names (its NEEDED entries), as the
  // dynamic loader would load them at each job's start.
  const ShellResult dynamic = shell("readelf -d " + shell_quote(FRAY_BUILD_DIR "/jobs/fray-job-supervisor"));
  REQUIRE_MESSAGE(dynamic.status == 0, dynamic.err);
  REQUIRE(dynamic.out.find("(NEEDED)") != std::string::npos);
  CHECK(dynamic.out.find("[libc.so.6]") != std::string::npos);
  const bool loads_cxx = dynamic.out.find("libstdc++") != std::string::npos || dynamic.out.find("libfmt") != std::string::npos ||
                         dynamic.out.find("libboost") != std::string::npos || dynamic.out.find("libgcc_s") != std::string::npos;
#if FRAY_SUPERVISOR_SELF_CONTAINED
  CHECK_MESSAGE(!loads_cxx, dynamic.out);
#else
  CHECK_MESSAGE(loads_cxx, "a sanitized build keeps the shared libraries its sanitizer runtime expects: " << dynamic.out);
#endif
}

TEST_CASE("a program killed with SIGKILL leaves no spare supervisor behind") {
  Watchdog watchdog("a killed program's spare supervisor", 90s);
  TempDir dir("fray-jobs-");
  const fs::path ready = dir / "ready", jobs_dir = dir / "jobs";
  pid_t driver = 0;
  const std::string out = ready.string(), jobs_arg = jobs_dir.string();
  const char* argv[] = {kClusterDriver.c_str(), jobs_arg.c_str(), "3", out.c_str(), nullptr};
  REQUIRE(::posix_spawn(&driver, kClusterDriver.c_str(), nullptr, nullptr, const_cast<char**>(argv), environ) == 0);
  REQUIRE(eventually([&] { return read_text(ready) == "ready\n"; }, 60s));
  REQUIRE(eventually([&] { return spare_supervisors(jobs_dir).size() == 1; }));
  ::kill(driver, SIGKILL);
  ::waitpid(driver, nullptr, 0);
  CHECK(eventually([&] { return spare_supervisors(jobs_dir).empty(); }));
}
