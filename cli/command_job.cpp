#include "command_job.hpp"

#include <boost/json.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cstdio>
#include <ctime>
#include <memory>

#include <fray/jobs.hpp>

#include "command_call.hpp"

namespace fray::cli {

namespace {

constexpr std::string_view job_help = R"(usage: fray job SUBCOMMAND [OPTIONS]

Jobs: programs with resources, replicas and an isolated env, run on a
cluster: this machine (no daemon; the default) or Slurm. A submitted job
outlives the command that submitted it; its status and logs stay on disk, so
any later `fray job` command sees them.

subcommands:
  submit   run a command as a job; prints its id (ray job submit -- ...)
  call     run a Python function as a job; prints its id
  status   the status word, then one line per replica
  logs     what the replicas printed, each line tagged [replica-N] (ray job logs [-f])
  wait     wait for jobs to finish; exit 0 only when all succeeded
  stop     stop a job: SIGTERM to every replica's processes, then SIGKILL (ray job stop)
  list     the jobs that are pending or running (--all: every job)
  gc       remove finished jobs older than a bound

Every subcommand takes --cluster SPEC (else FRAY_CLUSTER_SPEC, else local):
  local                       this machine, its cores, memory and GPUs
  local?cpu=8&ram=32g&gpu=2   this machine, with that capacity
  slurm?partition=P&account=A&qos=Q&time=HH:MM:SS&nonpreemptible_qos=Q2

`fray job SUBCOMMAND --help` explains each.
)";

constexpr std::string_view submit_usage =
    "usage: fray job submit [JOB OPTIONS] [ENV OPTIONS] [--wait | --follow] -- COMMAND [ARG]...\n";
constexpr std::string_view call_usage =
    "usage: fray job call [JOB OPTIONS] [ENV OPTIONS] [--wait | --follow] MODULE:FUNCTION [JSON_ARG | NAME=JSON]...\n";
constexpr std::string_view submit_text = R"(
Launches the job and prints its id at once (the job runs on, detached).
Every replica sees FRAY_JOB_ID, FRAY_JOB_NAME, FRAY_REPLICA_ID,
FRAY_REPLICA_COUNT, FRAY_CLUSTER_SPEC and FRAY_JOB_CPU/RAM/GPU; a fray
Runtime inside it takes its capacity from them. Without env options the
command runs as it is, with this shell's environment, in this directory; with
one (--package, --python, --requirements...), in an isolated env built first.

job options:
  --name NAME             the job's name (default: the command's name)
  --replicas N            run N copies (default 1, at most 1000000); N-1 is FRAY_REPLICA_ID's largest
  --cpu N                 cores per replica (default 1, fractional allowed, at most 1000000)
  --ram SIZE              memory per replica (512m, 4g, or bytes; above 0, at most 8E)
  --disk SIZE             disk per replica (as --ram)
  --gpu N[:TYPE]          N GPUs per replica, 1 to 1024 (of TYPE, e.g. 2:H100)
  --tpu TYPE[:TOPOLOGY]   a TPU slice per replica (v5e:2x2)
  --non-preemptible       never preempted (a pipeline's controller)
  --max-retries N         run again up to N times after a failure (default 0, at most 1000000)
  --max-retries-preemption N   resubmit after up to N preemptions (default 100, at most 1000000)
  --workdir DIR           the replicas' working directory (default: this one)
  --env KEY=VALUE         set for every replica (repeatable)
  --cluster SPEC          where to run (see `fray job --help`)
  --wait                  wait for the job; exit 0 when it succeeded, 1 when not
  --follow                print its logs as they come, then exit as --wait does
  --attach                with --wait or --follow: stop the job if this command ends
                          first (Ctrl-C, killed); local cluster only
  -h, --help              this help
)";
constexpr std::string_view call_text = R"(
Launches a job whose replicas each call MODULE:FUNCTION in a fray Python
worker of the job's env (an env with no packages when no env option is
given), with each JSON_ARG positional and each NAME=JSON a keyword argument,
as `fray call` does. Each replica's JSON result is kept with the job:
`fray job status ID` prints it. Takes the job options of `fray job submit`.
)";
constexpr std::string_view status_help = R"(usage: fray job status ID [--cluster SPEC]

Prints the job's status (pending, running, succeeded, failed, stopped), then
one line per replica: its status, how it ended, and a Python result. Exit
status 0 when it is known, 1 when there is no such job.
)";
constexpr std::string_view logs_help = R"(usage: fray job logs ID [--follow] [--replica N] [--no-tags] [--cluster SPEC]

Prints what the job's replicas printed (stdout and stderr), each line tagged
[replica-N] ([replica-N attempt-K] after a retry). --follow keeps printing
lines as they come until the job has finished (ray job logs -f).
)";
constexpr std::string_view wait_help = R"(usage: fray job wait ID... [--timeout SECONDS] [--cluster SPEC]

Waits until every job has finished and prints each one's id and status.
Exit status 0 when all succeeded, 1 when one failed or was stopped, 124 when
--timeout SECONDS passed first (above 0; 100 years or more: never).
)";
constexpr std::string_view stop_help = R"(usage: fray job stop ID... [--cluster SPEC]

Stops each job: its replicas and everything they started get SIGTERM, then
SIGKILL after the grace period; a pending job is stopped without running.
Returns once they are stopped. A finished job is left as it is.
)";
constexpr std::string_view list_help = R"(usage: fray job list [--all] [--cluster SPEC]

Lists the jobs that are pending or running, oldest first: id, status, name,
when submitted. --all lists finished jobs too.
)";
constexpr std::string_view gc_help = R"(usage: fray job gc [--older-than DAYS] [--cluster SPEC]

Removes the directories (status, logs, results) of jobs that finished more
than DAYS ago (default 7; 0 removes every finished job; 36525, 100 years, or
more removes none). Pending and running jobs are never touched.
)";

bool is_help(const std::string& option) { return option == "-h" || option == "--help"; }

std::unique_ptr<Cluster> cluster_of(const std::optional<std::string>& spec) {
  return spec ? connect_cluster(*spec) : current_cluster();
}

// The largest count an option takes (--replicas, --max-retries, --replica)
// and the most cores a replica may ask for.
constexpr int max_count = 1000000;
constexpr double max_cpu = 1000000;

bool asks_for_env(const VenvOptions& venv) {
  const VenvOptions none;
  return !venv.packages.empty() || venv.requirements_file || !venv.find_links.empty() || venv.index_url ||
         !venv.extra_index_urls.empty() || venv.no_index || venv.python != none.python || venv.system_site_packages ||
         venv.installer != none.installer || venv.inherit_env != none.inherit_env || venv.setup_timeout != none.setup_timeout;
}

struct SubmitArgs {
  JobRequest request;
  std::optional<std::string> cluster;
  bool wait = false, follow = false, attach = false, help = false;
  std::vector<std::string> rest;
};

// Takes the cluster option; false when `option` is not it.
bool take_cluster_option(ArgReader& args, const std::string& option, std::optional<std::string>& cluster) {
  if (option != "--cluster") return false;
  cluster = args.value();
  return true;
}

SubmitArgs parse_submit(ArgReader& args) {
  SubmitArgs parsed;
  VenvOptions venv;
  ResourceConfig& resources = parsed.request.resources;
  while (!args.done()) {
    if (!args.peek().starts_with("-") || args.peek() == "-") break;
    const std::string option = args.take_option();
    if (option == "--") break;
    if (is_help(option)) {
      parsed.help = true;
      return parsed;
    }
    if (option == "--env") {
      auto [name, value] = env_var_option(args, false);
      parsed.request.environment.env_vars[std::move(name)] = std::move(value);
    } else if (take_env_option(args, option, venv) || take_cluster_option(args, option, parsed.cluster)) {
    } else if (option == "--name") {
      parsed.request.name = args.value();
    } else if (option == "--replicas") {
      parsed.request.replicas = count_option(args, option, 1, max_count);
    } else if (option == "--cpu") {
      resources.cpu = positive_option(args, option, max_cpu);
    } else if (option == "--ram") {
      resources.ram = size_option(args, option, false);
    } else if (option == "--disk") {
      resources.disk = size_option(args, option, false);
    } else if (option == "--gpu") {
      const std::string text = args.value();
      const auto colon = text.find(':');
      char* end = nullptr;
      const std::string number = text.substr(0, colon);
      const long value = std::strtol(number.c_str(), &end, 10);
      if (number.empty() || *end != '\0' || value < 1 || value > 1024) {
        args.fail(fmt::format("--gpu {}: expected N or N:TYPE, N a whole number from 1 to 1024", text));
      }
      resources.with_gpu(static_cast<int>(value), colon == std::string::npos ? "" : text.substr(colon + 1));
    } else if (option == "--tpu") {
      const std::string text = args.value();
      const auto colon = text.find(':');
      if (text.empty() || colon == 0) args.fail(fmt::format("--tpu {}: expected TYPE or TYPE:TOPOLOGY", text));
      resources.with_tpu(text.substr(0, colon), colon == std::string::npos ? "" : text.substr(colon + 1));
    } else if (option == "--non-preemptible") {
      args.no_value();
      resources.preemptible = false;
    } else if (option == "--max-retries") {
      parsed.request.max_retries_failure = count_option(args, option, 0, max_count);
    } else if (option == "--max-retries-preemption") {
      parsed.request.max_retries_preemption = count_option(args, option, 0, max_count);
    } else if (option == "--workdir") {
      parsed.request.environment.working_dir = std::filesystem::absolute(args.value());
    } else if (option == "--wait") {
      args.no_value();
      parsed.wait = true;
    } else if (option == "--follow" || option == "-f") {
      args.no_value();
      parsed.follow = true;
    } else if (option == "--attach") {
      args.no_value();
      parsed.attach = true;
    } else {
      args.fail(fmt::format("unknown option '{}'", option));
    }
  }
  if (asks_for_env(venv)) parsed.request.environment.venv = std::move(venv);
  if (parsed.attach && !parsed.wait && !parsed.follow) args.fail("--attach needs --wait or --follow (the job stops when this command ends)");
  parsed.rest = args.rest();
  return parsed;
}

std::string default_name(const std::string& command) {
  std::string name = std::filesystem::path(command).filename().string();
  for (char& c : name) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == ':' ) c = '-';
  }
  return name.empty() ? std::string("job") : name;
}

void print_replicas(const JobInfo& info) {
  for (const ReplicaInfo& replica : info.replicas) {
    std::string how;
    if (replica.signal != 0) {
      how = replica.error;
    } else if (replica.exit_code) {
      how = fmt::format("exit {}", *replica.exit_code);
      if (!replica.error.empty() && replica.status == JobStatus::failed) how = replica.error;
    } else if (!replica.error.empty()) {
      how = replica.error;
    }
    fmt::print("replica-{} {}{}{}{}\n", replica.index, to_string(replica.status), how.empty() ? "" : " ", how,
               replica.result ? " result " + *replica.result : "");
  }
}

// After --wait or --follow: 0 when it succeeded.
int report_end(const JobInfo& info) {
  if (info.status == JobStatus::succeeded) return 0;
  std::fprintf(stderr, "fray: job %s %s%s%s\n", info.id.c_str(), std::string(to_string(info.status)).c_str(),
               info.error.empty() ? "" : ": ", info.error.c_str());
  return 1;
}

// With --attach, a local cluster whose jobs stop when this command ends.
std::unique_ptr<Cluster> submit_cluster(const SubmitArgs& parsed, const ArgReader& args) {
  if (!parsed.attach) return cluster_of(parsed.cluster);
  const char* env_spec = std::getenv("FRAY_CLUSTER_SPEC");
  const ClusterSpec spec = ClusterSpec::parse(parsed.cluster ? *parsed.cluster : env_spec != nullptr && *env_spec ? env_spec : "local");
  if (spec.scheme != "local") args.fail("--attach applies to the local cluster only");
  LocalClusterOptions options = LocalClusterOptions::from_spec(spec);
  options.die_with_submitter = true;
  return std::make_unique<LocalCluster>(std::move(options));
}

int launch_and_watch(SubmitArgs& parsed, const ArgReader& args) {
  auto cluster = submit_cluster(parsed, args);
  const JobId id = cluster->launch(parsed.request);
  fmt::print("{}\n", id);
  std::fflush(stdout);
  if (parsed.follow) {
    cluster->follow_logs(id, [](std::string_view line) {
      fmt::print("{}\n", line);
      std::fflush(stdout);
    });
    return report_end(cluster->poll(id));
  }
  if (parsed.wait) return report_end(cluster->wait(id));
  return 0;
}

int job_submit(ArgReader args) {
  SubmitArgs parsed = parse_submit(args);
  if (parsed.help) {
    fmt::print("{}{}{}{}", submit_usage, submit_text, env_options_help, exit_status_help);
    return 0;
  }
  if (parsed.rest.empty()) args.fail("no command to run (fray job submit [OPTIONS] -- COMMAND [ARG]...)");
  if (parsed.request.name.empty()) parsed.request.name = default_name(parsed.rest.front());
  parsed.request.entrypoint = Entrypoint::binary(parsed.rest);
  return launch_and_watch(parsed, args);
}

int job_call(ArgReader args) {
  SubmitArgs parsed = parse_submit(args);
  if (parsed.help) {
    fmt::print("{}{}{}{}", call_usage, call_text, env_options_help, exit_status_help);
    return 0;
  }
  if (parsed.rest.empty()) args.fail("no MODULE:FUNCTION to call");
  const std::string function = parsed.rest.front();
  if (function.find(':') == std::string::npos) args.fail(fmt::format("'{}' is not MODULE:FUNCTION", function));
  auto [call_args, call_kwargs] = parse_call_arguments(args, std::vector<std::string>(parsed.rest.begin() + 1, parsed.rest.end()));
  if (parsed.request.name.empty()) parsed.request.name = default_name(function);
  parsed.request.entrypoint = Entrypoint::python_with(function, std::move(call_args), std::move(call_kwargs));
  return launch_and_watch(parsed, args);
}

// ID arguments and --cluster, nothing else (plus the subcommand's own flags).
struct IdArgs {
  std::vector<std::string> ids;
  std::optional<std::string> cluster;
};

template <class OnOption>
std::optional<IdArgs> parse_ids(ArgReader& args, std::string_view help, OnOption&& on_option) {
  IdArgs parsed;
  while (!args.done()) {
    if (!args.peek().starts_with("-") || args.peek() == "-") {
      parsed.ids.push_back(args.take());
      continue;
    }
    const std::string option = args.take_option();
    if (option == "--") {
      for (std::string& id : args.rest()) parsed.ids.push_back(std::move(id));
      break;
    }
    if (is_help(option)) {
      fmt::print("{}{}", help, exit_status_help);
      return std::nullopt;
    }
    if (take_cluster_option(args, option, parsed.cluster)) continue;
    if (!on_option(option)) args.fail(fmt::format("unknown option '{}'", option));
  }
  return parsed;
}

std::string one_id(ArgReader& args, const IdArgs& parsed) {
  if (parsed.ids.size() != 1) args.fail(parsed.ids.empty() ? "which job? (give its id)" : "give one job id");
  return parsed.ids.front();
}

int job_status(ArgReader args) {
  auto parsed = parse_ids(args, status_help, [](const std::string&) { return false; });
  if (!parsed) return 0;
  const std::string id = one_id(args, *parsed);
  const JobInfo info = cluster_of(parsed->cluster)->poll(id);
  fmt::print("{}\n", to_string(info.status));
  print_replicas(info);
  if (!info.error.empty()) fmt::print("error: {}\n", info.error);
  return 0;
}

int job_logs(ArgReader args) {
  bool follow = false;
  LogOptions options;
  auto parsed = parse_ids(args, logs_help, [&](const std::string& option) {
    if (option == "--follow" || option == "-f") {
      args.no_value();
      follow = true;
    } else if (option == "--replica") {
      options.replica = count_option(args, option, 0, max_count);
    } else if (option == "--no-tags") {
      args.no_value();
      options.tagged = false;
    } else {
      return false;
    }
    return true;
  });
  if (!parsed) return 0;
  const std::string id = one_id(args, *parsed);
  auto cluster = cluster_of(parsed->cluster);
  if (follow) {
    cluster->follow_logs(id, [](std::string_view line) {
      fmt::print("{}\n", line);
      std::fflush(stdout);
    }, options);
  } else {
    fmt::print("{}", cluster->logs(id, options));
  }
  return 0;
}

int job_wait(ArgReader args) {
  std::optional<std::chrono::milliseconds> timeout;
  auto parsed = parse_ids(args, wait_help, [&](const std::string& option) {
    if (option != "--timeout") return false;
    timeout = seconds_option(args, option);  // nullopt: never
    return true;
  });
  if (!parsed) return 0;
  if (parsed->ids.empty()) args.fail("which jobs? (give their ids)");
  auto cluster = cluster_of(parsed->cluster);
  try {
    const std::vector<JobInfo> infos = cluster->wait(parsed->ids, timeout);
    bool all = true;
    for (const JobInfo& info : infos) {
      fmt::print("{} {}{}{}\n", info.id, to_string(info.status), info.error.empty() ? "" : ": ", info.error);
      all &= info.status == JobStatus::succeeded;
    }
    return all ? 0 : 1;
  } catch (const JobWaitTimeout& e) {
    std::fprintf(stderr, "fray: %s\n", e.what());
    return 124;
  }
}

int job_stop(ArgReader args) {
  auto parsed = parse_ids(args, stop_help, [](const std::string&) { return false; });
  if (!parsed) return 0;
  if (parsed->ids.empty()) args.fail("which jobs? (give their ids)");
  auto cluster = cluster_of(parsed->cluster);
  for (const std::string& id : parsed->ids) {
    cluster->terminate(id);
    fmt::print("{} {}\n", id, to_string(cluster->poll(id).status));
  }
  return 0;
}

std::string format_time(const std::optional<JobClock::time_point>& time) {
  if (!time) return "-";
  const std::time_t seconds = JobClock::to_time_t(*time);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
  return text;
}

int job_list(ArgReader args) {
  bool all = false;
  auto parsed = parse_ids(args, list_help, [&](const std::string& option) {
    if (option != "--all" && option != "-a") return false;
    args.no_value();
    all = true;
    return true;
  });
  if (!parsed) return 0;
  if (!parsed->ids.empty()) args.fail(fmt::format("unexpected argument '{}'", parsed->ids.front()));
  for (const JobInfo& info : cluster_of(parsed->cluster)->list()) {
    if (!all && is_finished(info.status)) continue;
    fmt::print("{}  {:<9}  {}  {}\n", info.id, to_string(info.status), info.name, format_time(info.submitted));
  }
  return 0;
}

int job_gc(ArgReader args) {
  std::optional<std::chrono::seconds> age = std::chrono::days(7);
  auto parsed = parse_ids(args, gc_help, [&](const std::string& option) {
    if (option != "--older-than") return false;
    age = days_option(args, option);  // nullopt: never, so none is old enough
    return true;
  });
  if (!parsed) return 0;
  if (!parsed->ids.empty()) args.fail(fmt::format("unexpected argument '{}'", parsed->ids.front()));
  auto cluster = cluster_of(parsed->cluster);
  auto* local = dynamic_cast<LocalCluster*>(cluster.get());
  if (local == nullptr) args.fail("gc applies to the local cluster's jobs");
  const std::size_t removed = age ? local->gc(JobClock::now() - *age) : 0;
  fmt::print("removed {} finished job{}\n", removed, removed == 1 ? "" : "s");
  return 0;
}

}  // namespace

int command_job(ArgReader args) {
  if (args.done()) args.fail("which subcommand? (submit, call, status, logs, wait, stop, list, gc)");
  const std::string sub = args.take();
  if (is_help(sub)) {
    fmt::print("{}{}", job_help, exit_status_help);
    return 0;
  }
  if (sub == "submit") return job_submit(ArgReader("fray job submit", args.rest()));
  if (sub == "call") return job_call(ArgReader("fray job call", args.rest()));
  if (sub == "status") return job_status(ArgReader("fray job status", args.rest()));
  if (sub == "logs") return job_logs(ArgReader("fray job logs", args.rest()));
  if (sub == "wait") return job_wait(ArgReader("fray job wait", args.rest()));
  if (sub == "stop") return job_stop(ArgReader("fray job stop", args.rest()));
  if (sub == "list") return job_list(ArgReader("fray job list", args.rest()));
  if (sub == "gc") return job_gc(ArgReader("fray job gc", args.rest()));
  args.fail(fmt::format("unknown subcommand '{}' (submit, call, status, logs, wait, stop, list, gc)", sub));
}

}  // namespace fray::cli
