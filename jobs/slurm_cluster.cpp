#include "fray/slurm_cluster.hpp"
#include "fray/duration_limit.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <fray/detail/child_environment.hpp>
#include <fray/detail/env_spec.hpp>
#include <fray/detail/file_lock.hpp>
#include <fray/detail/fs_util.hpp>
#include <fray/detail/process_runner.hpp>
#include <fray/venv.hpp>

#include "fray/detail/job_directory.hpp"
#include "fray/detail/job_json.hpp"
#include "fray/detail/job_supervisor.hpp"
#include "fray/detail/replica_outcome.hpp"
#include "fray/detail/slurm_output.hpp"

extern char** environ;

namespace fray {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// ---------------------------------------------------------------- text

using detail::all_digits;
using detail::join;
using detail::one_line;
using detail::split;
using detail::trimmed;
using Seen = detail::SlurmJobSeen;

// One word for bash, single-quoted.
std::string sh_quote(std::string_view word) {
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A path inside one of Slurm's filename patterns (--output), where '%' is special.
std::string pattern_escaped(std::string_view path) {
  std::string out;
  for (char c : path) out += c == '%' ? std::string("%%") : std::string(1, c);
  return out;
}

// "replica-N.log" for attempt 0, "replica-N.attempt-K.log" after: the suffix.
std::string attempt_suffix(int attempt) { return attempt == 0 ? std::string() : fmt::format(".attempt-{}", attempt); }

// ---------------------------------------------------------------- Slurm's commands

constexpr auto kCommandTimeout = std::chrono::seconds(120);

struct CommandOutput {
  int status = 0;
  std::string out, err;
  // What Slurm said, in one line: stderr, else stdout, else the status.
  std::string message() const {
    std::string text = one_line(err);
    if (text.empty()) text = one_line(out);
    return text.empty() ? fmt::format("exited with status {} and said nothing", status) : text;
  }
};

fs::path slurm_command(const std::string& name) {
  const char* path = std::getenv("PATH");
  fs::path found = detail::find_on_path(name, path != nullptr ? path : "");
  if (found.empty()) {
    throw SlurmError(name, fmt::format("{} not found: is Slurm's client installed? (not on PATH {})", name, path != nullptr ? path : ""));
  }
  return found;
}

std::vector<std::string> environ_lines() {
  std::vector<std::string> lines;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) lines.emplace_back(*entry);
  return lines;
}

// Runs one of Slurm's commands with this process's environment (so
// SLURM_CONF and the user's SBATCH_* settings hold), capturing its output.
CommandOutput run_slurm(const std::string& name, std::vector<std::string> args) {
  detail::ProcessSpec spec{slurm_command(name), std::move(args), environ_lines()};
  RunOptions options;
  options.timeout = kCommandTimeout;
  try {
    const ProcessResult result = detail::start_process(std::move(spec), std::move(options)).get();
    return {result.status(), result.out, result.err};
  } catch (const ProcessTimeout&) {
    throw SlurmError(name, fmt::format("no answer within {} s (is the Slurm controller up?)", kCommandTimeout.count()));
  } catch (const SlurmError&) {
    throw;
  } catch (const std::exception& e) {
    throw SlurmError(name, e.what());
  }
}

// Slurm's reply when none of the job ids asked for is known to it.
bool says_invalid_job_id(const CommandOutput& output) {
  return output.err.find("Invalid job id specified") != std::string::npos;
}

// ---------------------------------------------------------------- Slurm's job states

enum class StateKind {
  pending,     // not running yet (or again)
  running,     // its replicas run (or are ending)
  completed,   // every replica exited 0
  cancelled,   // scancel (by fray's terminate, or someone else)
  failure,     // counts against max_retries_failure
  preemption,  // counts against max_retries_preemption
  final,       // failed, never retried
};

struct StateMeaning {
  StateKind kind;
  std::string_view words;
};

// Every state squeue, sacct and scontrol report (Slurm 22.05's job_state_string).
StateMeaning meaning_of(std::string_view state) {
  static const std::map<std::string_view, StateMeaning> states{
      {"PENDING", {StateKind::pending, "waiting for resources"}},
      {"CONFIGURING", {StateKind::pending, "its nodes are being set up"}},
      {"REQUEUED", {StateKind::pending, "requeued"}},
      {"REQUEUE_HOLD", {StateKind::pending, "requeued and held"}},
      {"REQUEUE_FED", {StateKind::pending, "requeued by the federation"}},
      {"RESV_DEL_HOLD", {StateKind::pending, "held: its reservation was deleted"}},
      // Suspended: allocated and started, its processes stopped for now.
      {"SUSPENDED", {StateKind::running, "suspended"}},
      {"RUNNING", {StateKind::running, ""}},
      {"COMPLETING", {StateKind::running, "its replicas are ending"}},
      {"RESIZING", {StateKind::running, "being resized"}},
      {"SIGNALING", {StateKind::running, "being signalled"}},
      {"STAGE_OUT", {StateKind::running, "staging out"}},
      {"STOPPED", {StateKind::running, "stopped by SIGSTOP"}},
      {"COMPLETED", {StateKind::completed, ""}},
      {"CANCELLED", {StateKind::cancelled, "cancelled"}},
      {"FAILED", {StateKind::failure, "a replica or the batch script exited non-zero"}},
      {"OUT_OF_MEMORY", {StateKind::failure, "it ran out of memory"}},
      {"TIMEOUT", {StateKind::failure, "it reached its time limit"}},
      {"PREEMPTED", {StateKind::preemption, "it was preempted"}},
      {"NODE_FAIL", {StateKind::preemption, "a node it ran on failed"}},
      {"BOOT_FAIL", {StateKind::preemption, "its nodes failed to boot"}},
      {"DEADLINE", {StateKind::final, "it reached its deadline"}},
      {"SPECIAL_EXIT", {StateKind::final, "it exited with the special exit code"}},
      {"REVOKED", {StateKind::final, "revoked: it runs on another cluster of the federation"}},
      {"LAUNCH_FAILED", {StateKind::failure, "it could not be launched"}},
  };
  const auto found = states.find(state);
  if (found != states.end()) return found->second;
  return {StateKind::pending, "a state fray does not know"};
}

// One squeue call for every job; the jobs Slurm's controller still holds
// (every state, for MinJobAge after they end).
std::map<std::string, Seen> ask_squeue(const std::vector<std::string>& native_ids) {
  const CommandOutput output =
      run_slurm("squeue", {"--noheader", "--all", "--states=all", "--jobs=" + join(native_ids, ","), "--format=%i|%T|%S|%e|%r"});
  if (output.status != 0) {
    if (says_invalid_job_id(output)) return {};  // none of them is known any more
    throw SlurmError("squeue", output.message());
  }
  return detail::parse_squeue_output(output.out);
}

// One sacct call; nullopt when accounting does not answer here.
std::optional<std::map<std::string, Seen>> ask_sacct(const std::vector<std::string>& native_ids, bool& disabled) {
  const CommandOutput output = run_slurm(
      "sacct", {"--noheader", "--parsable2", "--allocations", "--jobs=" + join(native_ids, ","), "--format=JobIDRaw,State,ExitCode,Start,End"});
  if (output.status != 0) {
    disabled = output.err.find("accounting storage is disabled") != std::string::npos;
    return std::nullopt;
  }
  return detail::parse_sacct_output(output.out);
}

std::optional<Seen> ask_scontrol(const std::string& native_id) {
  const CommandOutput output = run_slurm("scontrol", {"--oneliner", "show", "job", native_id});
  if (output.status != 0) {
    if (says_invalid_job_id(output)) return std::nullopt;
    throw SlurmError("scontrol", output.message());
  }
  return detail::parse_scontrol_output(output.out);
}

// ---------------------------------------------------------------- options

bool is_slurm_time(std::string_view text) {
  if (text == "INFINITE" || text == "UNLIMITED" || text == "infinite" || text == "unlimited") return true;
  std::string_view rest = text;
  if (const auto dash = text.find('-'); dash != std::string_view::npos) {
    if (!all_digits(text.substr(0, dash))) return false;
    rest = text.substr(dash + 1);
  }
  const std::vector<std::string> parts = split(rest, ':');
  if (parts.size() > 3) return false;
  return std::all_of(parts.begin(), parts.end(), [](const std::string& part) { return all_digits(part) && part.size() <= 9; });
}

void check_value(const char* key, const std::optional<std::string>& value, std::string_view where) {
  if (!value) return;
  const bool printable = std::all_of(value->begin(), value->end(), [](unsigned char c) { return std::isgraph(c) != 0; });
  if (value->empty() || !printable) {
    throw InvalidClusterSpec(fmt::format("{}: {}='{}' is not a Slurm name (empty, or holds whitespace)", where, key, *value));
  }
}

void check_options(const SlurmClusterOptions& options, std::string_view where) {
  check_value("partition", options.partition, where);
  check_value("account", options.account, where);
  check_value("qos", options.qos, where);
  check_value("nonpreemptible_qos", options.nonpreemptible_qos, where);
  if (options.time && !is_slurm_time(*options.time)) {
    throw InvalidClusterSpec(fmt::format(
        "{}: time={} is not a Slurm time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or INFINITE)", where, *options.time));
  }
  if (options.jobs_dir && options.jobs_dir->empty()) throw InvalidClusterSpec(fmt::format("{}: dir is empty", where));
}

// ---------------------------------------------------------------- the job directory's Slurm files

// <job>/slurm.json: what poll() needs to resubmit, and the retries used.
struct SlurmRecord {
  std::vector<std::string> sbatch_args;  // without --output and the script
  std::vector<std::string> native_ids;   // one per attempt
  int replicas = 1;
  bool python = false;
  int max_retries_failure = 0, max_retries_preemption = 0;
  int failure_retries = 0, preemption_retries = 0;
};

fs::path record_file(const detail::JobDirectory& dir) { return dir.root() / "slurm.json"; }
fs::path lock_file(const detail::JobDirectory& dir) { return dir.root() / "slurm.lock"; }
fs::path stop_file(const detail::JobDirectory& dir) { return dir.root() / "stop-requested"; }
fs::path batch_script(const detail::JobDirectory& dir) { return dir.root() / "job.sh"; }
fs::path replica_script(const detail::JobDirectory& dir) { return dir.root() / "replica.sh"; }
fs::path batch_log(const detail::JobDirectory& dir, int attempt) { return dir.root() / ("batch" + attempt_suffix(attempt) + ".log"); }
fs::path call_input(const detail::JobDirectory& dir, int replica) { return dir.root() / fmt::format("call-{}.json", replica); }
// The exit status a replica's script records when its command ends.
fs::path exit_file(const detail::JobDirectory& dir, int replica, int attempt) {
  return dir.root() / fmt::format("exit-{}{}", replica, attempt_suffix(attempt));
}

void write_record(const detail::JobDirectory& dir, const SlurmRecord& record) {
  json::object out;
  json::array args, ids;
  for (const std::string& arg : record.sbatch_args) args.emplace_back(arg);
  for (const std::string& id : record.native_ids) ids.emplace_back(id);
  out["sbatch_args"] = std::move(args);
  out["native_ids"] = std::move(ids);
  out["replicas"] = record.replicas;
  out["python"] = record.python;
  out["max_retries_failure"] = record.max_retries_failure;
  out["max_retries_preemption"] = record.max_retries_preemption;
  out["failure_retries"] = record.failure_retries;
  out["preemption_retries"] = record.preemption_retries;
  detail::write_file_atomic(record_file(dir), json::serialize(out), /*durable=*/false);
}

SlurmRecord read_record(const detail::JobDirectory& dir) {
  const auto text = detail::read_file(record_file(dir));
  if (!text) throw JobError(fmt::format("job '{}': {} is missing", dir.id(), record_file(dir).string()));
  try {
    const json::object in = json::parse(*text).as_object();
    SlurmRecord record;
    for (const json::value& arg : in.at("sbatch_args").as_array()) record.sbatch_args.emplace_back(arg.as_string());
    for (const json::value& id : in.at("native_ids").as_array()) record.native_ids.emplace_back(id.as_string());
    const auto integer = [&](std::string_view key) { return static_cast<int>(in.at(key).to_number<std::int64_t>()); };
    record.replicas = integer("replicas");
    record.python = in.at("python").as_bool();
    record.max_retries_failure = integer("max_retries_failure");
    record.max_retries_preemption = integer("max_retries_preemption");
    record.failure_retries = integer("failure_retries");
    record.preemption_retries = integer("preemption_retries");
    return record;
  } catch (const std::exception& e) {
    throw JobError(fmt::format("job '{}': slurm.json is not fray's ({})", dir.id(), e.what()));
  }
}

std::optional<int> recorded_exit(const detail::JobDirectory& dir, int replica, int attempt) {
  const auto text = detail::read_file(exit_file(dir, replica, attempt));
  if (!text) return std::nullopt;
  const std::string word = trimmed(*text);
  if (!all_digits(word) || word.size() > 4) return std::nullopt;
  return std::atoi(word.c_str());
}

// ---------------------------------------------------------------- what the replicas see

// The share of this process's environment InheritEnv::minimal passes (see
// fray/venv_options.hpp): what a job without an env starts from.
bool minimal_share(std::string_view name) {
  static const std::set<std::string_view> names{"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "TERM"};
  return names.contains(name) || name.starts_with("LC_");
}

// Slurm's own settings of the submitter (it may run inside a Slurm job):
// never passed on, the job gets its own.
bool slurm_setting(std::string_view name) {
  return name.starts_with("SLURM_") || name.starts_with("SBATCH_") || name.starts_with("SRUN_") || name.starts_with("SALLOC_");
}

// Every variable the batch script exports to the replicas: the env's
// (its inherit policy's share, its own vars, VIRTUAL_ENV, its bin first on
// PATH) or, without an env, the minimal share; then the job's and fray's.
std::map<std::string, std::string> exported_variables(const IsolatedVirtualEnv* env, const std::map<std::string, std::string>& vars) {
  std::map<std::string, std::string> out;
  if (env != nullptr) {
    RunOptions options;
    options.env = vars;
    for (const std::string& line : env->child_environment(options)) {
      const auto equals = line.find('=');
      if (equals == std::string::npos) continue;
      const std::string name = line.substr(0, equals);
      if (slurm_setting(name) && !vars.contains(name)) continue;
      out[name] = line.substr(equals + 1);
    }
  } else {
    for (const auto& [name, value] : detail::snapshot_environ()) {
      if (minimal_share(name)) out[name] = value;
    }
    for (const auto& [name, value] : vars) out[name] = value;
  }
  // fray's own cache setting, so nested jobs and envs use the same one.
  if (const char* cache = std::getenv("FRAY_CACHE_DIR"); cache != nullptr && *cache != '\0' && !out.contains("FRAY_CACHE_DIR")) {
    out["FRAY_CACHE_DIR"] = cache;
  }
  return out;
}

// How the replicas map onto Slurm's tasks. Slurm gives a task whole cores:
// each replica gets ceil(cpu) of them. Replicas asking less than a core
// share cores instead: packed on one node, ceil(cpu x replicas) cores for
// them all (sbatch and srun --overcommit: the cores are counted per node,
// not per task).
struct TaskShape {
  int cpus = 1;         // --cpus-per-task (per node when packed)
  bool packed = false;  // --nodes=1 --overcommit
};

TaskShape task_shape(const JobRequest& request) {
  const auto whole = [](double cores) { return std::max(1, static_cast<int>(std::ceil(cores - 1e-9))); };
  if (request.resources.cpu < 1 && request.replicas > 1) return {whole(request.resources.cpu * request.replicas), true};
  return {whole(request.resources.cpu), false};
}

// job.sh: the batch script. `job.sh K` runs attempt K: one srun step, one
// task per replica, each writing its own log file.
std::string batch_script_text(const detail::JobDirectory& dir, const JobRequest& request, const TaskShape& shape,
                              const std::map<std::string, std::string>& exported, const fs::path& srun) {
  std::string text = "#!/bin/bash\n";
  text += fmt::format("# fray job {}: SlurmCluster's batch script (`job.sh K` runs attempt K).\n", dir.id());
  text += "# The replicas get exactly the variables below (sbatch --export=NIL, srun --export=ALL).\n";
  text += "attempt=${1:-0}\n";
  text += "if [ \"$attempt\" = 0 ]; then suffix=; else suffix=.attempt-$attempt; fi\n";
  text += fmt::format("srun=$(command -v srun) || srun={}\n", sh_quote(srun.string()));
  text += "exec /usr/bin/env \\\n";
  for (const auto& [name, value] : exported) text += "  " + sh_quote(name + "=" + value) + " \\\n";
  text += fmt::format("  \"$srun\" --export=ALL --ntasks={} --cpus-per-task={}{} --kill-on-bad-exit=0 \\\n", request.replicas, shape.cpus,
                      shape.packed ? " --overcommit" : "");
  text += fmt::format("    --output={}\"$suffix\".log \\\n", sh_quote(pattern_escaped(dir.logs_dir().string()) + "/replica-%t"));
  text += fmt::format("    /bin/bash {} \"$attempt\"\n", sh_quote(replica_script(dir).string()));
  return text;
}

// replica.sh: one replica (SLURM_PROCID is its index) in the working
// directory; records its exit status in the job directory.
std::string replica_script_text(const detail::JobDirectory& dir, const JobRequest& request, const fs::path& working_dir) {
  const std::string root = sh_quote(dir.root().string());
  std::string text = "#!/bin/bash\n";
  text += fmt::format("# One replica of fray job {}, started by srun from job.sh: SLURM_PROCID is its index.\n", dir.id());
  text += "attempt=${1:-0}\n";
  text += "replica=${SLURM_PROCID:?not started by srun}\n";
  text += "export FRAY_REPLICA_ID=$replica\n";
  text += "if [ \"$attempt\" = 0 ]; then suffix=; else suffix=.attempt-$attempt; fi\n";
  text += "root=" + root + "\n";
  text += fmt::format("if cd {}; then\n", sh_quote(working_dir.string()));
  if (request.entrypoint.is_python()) {
    text += "  rm -f \"$root/result-$replica.json\" \"$root/result-$replica.json.error\"\n";
    text += fmt::format("  {} call \"$root/result-$replica.json\" < \"$root/call-$replica.json\"\n", sh_quote(detail::job_supervisor_path()));
  } else {
    std::vector<std::string> words;
    for (const std::string& word : request.entrypoint.argv()) words.push_back(sh_quote(word));
    text += "  " + join(words, " ") + "\n";
  }
  text += "  status=$?\n";
  text += "else\n";
  text += "  status=1\n";
  text += "fi\n";
  text += "printf '%s\\n' \"$status\" > \"$root/exit-$replica$suffix.tmp\" && mv -f \"$root/exit-$replica$suffix.tmp\" \"$root/exit-$replica$suffix\"\n";
  text += "exit \"$status\"\n";
  return text;
}

void write_private(const fs::path& file, std::string_view text, fs::perms mode) {
  detail::write_file_atomic(file, text, /*durable=*/false);
  fs::permissions(file, mode, fs::perm_options::replace);
}


std::uint64_t ceil_mib(std::uint64_t bytes) { return std::max<std::uint64_t>(1, (bytes + (1ull << 20) - 1) >> 20); }

// sbatch's options for `request` (the same for every attempt).
std::vector<std::string> sbatch_options(const JobRequest& request, const SlurmClusterOptions& options, const fs::path& working_dir) {
  const TaskShape shape = task_shape(request);
  const int cpus = shape.cpus;
  std::vector<std::string> args{"--parsable",
                                "--job-name=" + request.name,
                                fmt::format("--ntasks={}", request.replicas),
                                fmt::format("--cpus-per-task={}", cpus)};
  if (shape.packed) {
    args.push_back("--nodes=1");
    args.push_back("--overcommit");
  }
  const ResourceConfig& resources = request.resources;
  if (resources.ram > 0 && shape.packed) {
    args.push_back(fmt::format("--mem={}M", ceil_mib(resources.ram * std::uint64_t(request.replicas))));
  } else if (resources.ram > 0) {
    args.push_back(fmt::format("--mem-per-cpu={}M", ceil_mib((resources.ram + cpus - 1) / cpus)));
  }
  if (resources.disk > 0) args.push_back(fmt::format("--tmp={}M", ceil_mib(resources.disk)));
  if (const auto* gpu = std::get_if<GpuConfig>(&resources.device)) {
    const int count = shape.packed ? gpu->count * request.replicas : gpu->count;
    const std::string what = gpu->type.empty() ? std::to_string(count) : fmt::format("{}:{}", gpu->type, count);
    // One replica, or all on one node: the node's GPUs (--gres); else each task's own.
    args.push_back(request.replicas == 1 || shape.packed ? "--gres=gpu:" + what : "--gpus-per-task=" + what);
  }
  if (options.partition) args.push_back("--partition=" + *options.partition);
  if (options.account) args.push_back("--account=" + *options.account);
  const std::optional<std::string>& qos = !resources.preemptible && options.nonpreemptible_qos ? options.nonpreemptible_qos : options.qos;
  if (qos) args.push_back("--qos=" + *qos);
  if (options.time) args.push_back("--time=" + *options.time);
  // fray resubmits (and counts the retries, and keeps each attempt's logs):
  // Slurm's own requeue would rerun the job under the same id over its files.
  args.push_back("--no-requeue");
  args.push_back("--export=NIL");
  args.push_back("--chdir=" + working_dir.string());
  return args;
}

// Submits attempt `attempt`; returns Slurm's job id. Throws SlurmError.
std::string submit_attempt(const detail::JobDirectory& dir, const SlurmRecord& record, int attempt) {
  std::vector<std::string> args = record.sbatch_args;
  args.push_back("--output=" + pattern_escaped(batch_log(dir, attempt).string()));
  args.push_back(batch_script(dir).string());
  args.push_back(std::to_string(attempt));
  const CommandOutput output = run_slurm("sbatch", std::move(args));
  if (output.status != 0) throw SlurmError("sbatch", output.message());
  std::optional<std::string> id = detail::parse_sbatch_job_id(output.out);
  if (!id) throw SlurmError("sbatch", fmt::format("answered '{}', not a job id ({})", trimmed(output.out), one_line(output.err)));
  return *id;
}

void cancel(const std::string& native_id) {
  const CommandOutput output = run_slurm("scancel", {native_id});
  if (output.status != 0 && !says_invalid_job_id(output)) throw SlurmError("scancel", output.message());
}

// ---------------------------------------------------------------- from what Slurm says to a JobInfo

// The last non-empty line of a file (at most 300 characters of it), or empty.
std::string last_line(const fs::path& file) {
  const auto text = detail::read_file(file);
  if (!text) return {};
  const std::string content = trimmed(*text);
  const auto newline = content.rfind('\n');
  std::string line = trimmed(newline == std::string::npos ? content : content.substr(newline + 1));
  if (line.size() > 300) line = line.substr(0, 300) + "...";
  return line;
}

std::vector<ReplicaInfo> fresh_replicas(int count) {
  std::vector<ReplicaInfo> replicas(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) replicas[static_cast<std::size_t>(i)].index = i;
  return replicas;
}

std::string state_words(const std::string& native_id, const Seen& seen) {
  const StateMeaning meaning = meaning_of(seen.state);
  std::string text = fmt::format("Slurm job {} {}", native_id, seen.state);
  if (!meaning.words.empty()) text += fmt::format(" ({})", meaning.words);
  if (!seen.reason.empty() && seen.reason != "None" && seen.reason != "(null)") text += fmt::format(", reason {}", seen.reason);
  if (!seen.exit_code.empty() && seen.exit_code != "0:0") text += fmt::format(", exit code {}", seen.exit_code);
  return text;
}

// The job as Slurm's word and the replicas' exit files say; `seen` null:
// Slurm knows it no more.
JobInfo observe(const detail::JobDirectory& dir, const JobInfo& stored, const SlurmRecord& record, const Seen* seen,
                bool stop_requested, bool asked_sacct) {
  JobInfo info = stored;
  const int attempt = stored.attempt;
  StateKind kind = StateKind::final;
  std::string words;
  if (seen == nullptr) {
    words = fmt::format("Slurm no longer knows job {} (not in squeue{} or scontrol): it ended long ago or was purged", stored.native_id,
                        asked_sacct ? ", sacct" : "");
  } else {
    kind = meaning_of(seen->state).kind;
    words = state_words(stored.native_id, *seen);
  }
  if (stop_requested && (kind == StateKind::failure || kind == StateKind::preemption || kind == StateKind::final)) {
    kind = StateKind::cancelled;  // it ended because fray stopped it
  }
  info.replicas = fresh_replicas(record.replicas);
  bool failed_by_slurm = false;
  for (ReplicaInfo& replica : info.replicas) {
    const fs::path result = dir.result_file(replica.index);
    if (const auto status = recorded_exit(dir, replica.index, attempt)) {
      const bool signalled = *status > 128 && *status <= 128 + 64;
      replica.signal = signalled ? *status - 128 : 0;
      if (!signalled) replica.exit_code = *status;
      if (*status == 0) {
        replica.status = JobStatus::succeeded;
        if (record.python) replica.result = detail::read_file(result);
      } else if (kind == StateKind::cancelled) {
        replica.status = JobStatus::stopped;
        replica.error = detail::describe_exit(*status, replica.signal);
      } else {
        replica.status = JobStatus::failed;
        replica.error = detail::describe_exit(*status, replica.signal);
        if (record.python) replica.error += detail::python_error_suffix(result);
      }
      continue;
    }
    switch (kind) {
      case StateKind::pending: replica.status = JobStatus::pending; break;
      case StateKind::running: replica.status = JobStatus::running; break;
      case StateKind::completed:
        replica.status = JobStatus::succeeded;
        replica.exit_code = 0;
        if (record.python) replica.result = detail::read_file(result);
        break;
      case StateKind::cancelled:
        replica.status = JobStatus::stopped;
        replica.error = "stopped";
        break;
      default:
        replica.status = JobStatus::failed;
        replica.error = words;
        failed_by_slurm = true;
    }
  }
  switch (kind) {
    case StateKind::pending: info.status = JobStatus::pending; break;
    case StateKind::running: info.status = JobStatus::running; break;
    case StateKind::completed: info.status = aggregate_status(info.replicas); break;
    case StateKind::cancelled: info.status = JobStatus::stopped; break;
    default: info.status = JobStatus::failed;
  }
  info.error.clear();
  if (info.status == JobStatus::failed) {
    std::vector<ReplicaInfo> by_status;
    for (const ReplicaInfo& replica : info.replicas) {
      if (replica.status == JobStatus::failed && replica.error != words) by_status.push_back(replica);
    }
    info.error = failed_replicas_message(by_status);
    if (failed_by_slurm || info.error.empty()) {
      info.error += (info.error.empty() ? "" : "; ") + words;
      // What srun or slurmstepd said about it, when they said something.
      if (const std::string said = last_line(batch_log(dir, attempt)); !said.empty()) info.error += "; the batch script's output ends: " + said;
    }
  } else if (info.status == JobStatus::stopped) {
    info.error = stop_requested ? "stopped" : words;
  }
  if (seen != nullptr && kind != StateKind::pending && !info.started) info.started = seen->start;
  if (is_finished(info.status)) {
    info.ended = seen != nullptr && seen->end ? seen->end : std::optional(JobClock::now());
  } else {
    info.ended.reset();
  }
  return info;
}

bool same(const JobInfo& a, const JobInfo& b) {
  return json::serialize(detail::info_to_json(a)) == json::serialize(detail::info_to_json(b));
}

// The retry a final state allows, or nothing.
enum class Retry { none, failure, preemption };

Retry retry_for(const Seen* seen, const SlurmRecord& record, bool stop_requested) {
  if (seen == nullptr || stop_requested) return Retry::none;
  const StateKind kind = meaning_of(seen->state).kind;
  if (kind == StateKind::failure && record.failure_retries < record.max_retries_failure) return Retry::failure;
  if (kind == StateKind::preemption && record.preemption_retries < record.max_retries_preemption) return Retry::preemption;
  return Retry::none;
}

}  // namespace

// ---------------------------------------------------------------- SlurmClusterOptions

SlurmClusterOptions SlurmClusterOptions::from_spec(const ClusterSpec& spec) {
  if (spec.scheme != "slurm") throw InvalidClusterSpec(fmt::format("'{}' is not a Slurm cluster spec", spec.text()));
  SlurmClusterOptions options;
  const auto take = [&](const char* key, std::optional<std::string>& into) {
    if (const std::string* value = spec.find(key)) into = *value;
  };
  take("partition", options.partition);
  take("account", options.account);
  take("qos", options.qos);
  take("time", options.time);
  take("nonpreemptible_qos", options.nonpreemptible_qos);
  if (const std::string* dir = spec.find("dir")) options.jobs_dir = *dir;
  check_options(options, fmt::format("cluster spec '{}'", spec.text()));
  return options;
}

// ---------------------------------------------------------------- SlurmCluster

SlurmCluster::SlurmCluster(SlurmClusterOptions options) : options_(std::move(options)) {
  check_options(options_, "Slurm cluster options");
  jobs_dir_ = options_.jobs_dir ? *options_.jobs_dir : detail::default_cache_dir(detail::snapshot_environ()) / "slurm-jobs";
  detail::create_private_directories(jobs_dir_);
  jobs_dir_ = fs::canonical(jobs_dir_);
}

std::string SlurmCluster::spec() const {
  ClusterSpec spec{"slurm", {}};
  if (options_.partition) spec.params["partition"] = *options_.partition;
  if (options_.account) spec.params["account"] = *options_.account;
  if (options_.qos) spec.params["qos"] = *options_.qos;
  if (options_.time) spec.params["time"] = *options_.time;
  if (options_.nonpreemptible_qos) spec.params["nonpreemptible_qos"] = *options_.nonpreemptible_qos;
  if (options_.jobs_dir) spec.params["dir"] = jobs_dir_.string();
  return spec.text();
}

JobId SlurmCluster::launch(const JobRequest& request) {
  validate(request);
  if (const auto* tpu = std::get_if<TpuConfig>(&request.resources.device)) {
    throw JobRejected(fmt::format("job '{}' asks for a TPU ({}{}{}): Slurm schedules CPUs and GPUs, not TPUs", request.name, tpu->type,
                                  tpu->topology.empty() ? "" : " ", tpu->topology));
  }
  slurm_command("sbatch");  // before the env is built: no Slurm, no wait
  const fs::path srun = slurm_command("srun");
  const fs::path working_dir = request.environment.working_dir ? *request.environment.working_dir : fs::current_path();

  // The env, built here, in the cache: the nodes open it from there.
  std::optional<VenvOptions> venv = request.environment.venv;
  if (!venv && request.entrypoint.is_python()) venv = VenvOptions{};
  std::optional<IsolatedVirtualEnv> env;
  if (venv) env.emplace(*venv);

  const detail::JobDirectory dir = detail::JobDirectory::create(jobs_dir_, request.name);
  try {
    dir.write_request(request);
    const std::string cluster_spec = spec();
    const auto vars = detail::replica_variables(request, dir.id(), std::nullopt, cluster_spec);
    // A Python replica (fray-job-supervisor call) opens the env itself.
    const auto exported = exported_variables(request.entrypoint.is_python() ? nullptr : (env ? &*env : nullptr), vars);
    write_private(batch_script(dir), batch_script_text(dir, request, task_shape(request), exported, srun), fs::perms::owner_all);
    write_private(replica_script(dir), replica_script_text(dir, request, working_dir), fs::perms::owner_all);
    if (request.entrypoint.is_python()) {
      // What each replica's `call` reads: the request, its env named by
      // the key it was built under here (built_key), in the cache it was
      // built in, so that no package or index option, and no credential,
      // is written for the nodes to read.
      JobRequest call = request;
      VenvOptions opening;
      opening.python = venv->python;
      opening.env = venv->env;
      opening.inherit_env = venv->inherit_env;
      opening.cache_dir = venv->cache_dir ? *venv->cache_dir : detail::default_cache_dir(detail::snapshot_environ());
      opening.built_key = env->key();
      call.environment.venv = std::move(opening);
      for (int replica = 0; replica < request.replicas; ++replica) {
        json::object input;
        input["request"] = detail::request_to_json(call, /*redact=*/true);
        json::object replica_vars;
        for (const auto& [name, value] : detail::replica_variables(request, dir.id(), replica, cluster_spec)) replica_vars[name] = value;
        input["vars"] = std::move(replica_vars);
        write_private(call_input(dir, replica), json::serialize(input), fs::perms::owner_read | fs::perms::owner_write);
      }
    }
    SlurmRecord record;
    record.sbatch_args = sbatch_options(request, options_, working_dir);
    record.replicas = request.replicas;
    record.python = request.entrypoint.is_python();
    record.max_retries_failure = request.max_retries_failure;
    record.max_retries_preemption = request.max_retries_preemption;
    const JobClock::time_point submitted = JobClock::now();
    const std::string native_id = submit_attempt(dir, record, 0);
    try {
      record.native_ids.push_back(native_id);
      write_record(dir, record);
      JobInfo info;
      info.id = dir.id();
      info.name = request.name;
      info.replicas = fresh_replicas(request.replicas);
      info.submitted = submitted;
      info.native_id = native_id;
      dir.write_status(info);
    } catch (...) {
      try {
        cancel(native_id);
      } catch (...) {
      }
      throw;
    }
  } catch (...) {
    detail::remove_tree(dir.root());
    throw;
  }
  return dir.id();
}

JobInfo SlurmCluster::poll(const JobId& id) { return poll(std::vector<JobId>{id}).front(); }

std::vector<JobInfo> SlurmCluster::poll(const std::vector<JobId>& ids) {
  struct Entry {
    detail::JobDirectory dir;
    JobInfo stored;
  };
  std::vector<JobInfo> infos(ids.size());
  std::vector<std::pair<std::size_t, Entry>> live;
  std::vector<std::string> native_ids;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    detail::JobDirectory dir = detail::JobDirectory::open(jobs_dir_, ids[i]);
    std::optional<JobInfo> stored = dir.read_status();
    if (!stored) {  // being launched
      infos[i].id = ids[i];
      continue;
    }
    infos[i] = *stored;
    if (is_finished(stored->status) || stored->native_id.empty()) continue;
    if (std::find(native_ids.begin(), native_ids.end(), stored->native_id) == native_ids.end()) native_ids.push_back(stored->native_id);
    live.push_back({i, Entry{std::move(dir), std::move(*stored)}});
  }
  if (live.empty()) return infos;

  // One squeue for all; sacct (one call) for the ones it no longer holds,
  // when accounting answers; else scontrol, one by one (each job at most
  // once: once it has ended, its status.json is final).
  std::map<std::string, Seen> seen = ask_squeue(native_ids);
  const auto missing = [&] {
    std::vector<std::string> out;
    for (const std::string& id : native_ids) {
      if (!seen.contains(id)) out.push_back(id);
    }
    return out;
  };
  bool asked_sacct = false;
  if (auto gone = missing(); !gone.empty() && accounting_.load() != 2) {
    bool disabled = false;
    if (auto answered = ask_sacct(gone, disabled)) {
      accounting_.store(1);
      asked_sacct = true;
      seen.merge(*answered);
    } else if (disabled) {
      accounting_.store(2);
    }
  }
  for (const std::string& id : missing()) {
    if (auto job = ask_scontrol(id)) seen[id] = std::move(*job);
  }

  for (auto& [index, entry] : live) {
    const detail::JobDirectory& dir = entry.dir;
    const auto found = seen.find(entry.stored.native_id);
    const Seen* job = found == seen.end() ? nullptr : &found->second;
    SlurmRecord record = read_record(dir);
    bool stop = fs::exists(stop_file(dir));
    JobInfo next = observe(dir, entry.stored, record, job, stop, asked_sacct);
    Retry retry = is_finished(next.status) ? retry_for(job, record, stop) : Retry::none;
    if (retry == Retry::none && same(next, entry.stored)) continue;

    // A change: decided under the job's lock, against what is on disk
    // now (another process may have moved the job on meanwhile).
    detail::FileLock lock = detail::FileLock::acquire(lock_file(dir), detail::FileLock::Mode::exclusive);
    const std::optional<JobInfo> current = dir.read_status();
    if (!current || is_finished(current->status) || current->attempt != entry.stored.attempt ||
        current->native_id != entry.stored.native_id) {
      infos[index] = current ? *current : next;
      continue;
    }
    if (!stop && fs::exists(stop_file(dir))) {
      stop = true;
      next = observe(dir, entry.stored, record, job, stop, asked_sacct);
      retry = Retry::none;
    }
    record = read_record(dir);
    if (retry != Retry::none) retry = retry_for(job, record, stop);
    if (retry != Retry::none) {
      const int attempt = entry.stored.attempt + 1;
      try {
        const std::string native_id = submit_attempt(dir, record, attempt);
        (retry == Retry::failure ? record.failure_retries : record.preemption_retries) += 1;
        record.native_ids.push_back(native_id);
        write_record(dir, record);
        JobInfo again = entry.stored;
        again.status = JobStatus::pending;
        again.attempt = attempt;
        again.native_id = native_id;
        again.replicas = fresh_replicas(record.replicas);
        again.error.clear();
        again.ended.reset();
        next = std::move(again);
      } catch (const SlurmError& e) {
        next.error += fmt::format("; its retry could not be submitted: {}", e.what());
      }
    }
    dir.write_status(next);
    infos[index] = std::move(next);
  }
  return infos;
}

void SlurmCluster::terminate(const JobId& id) {
  const detail::JobDirectory dir = detail::JobDirectory::open(jobs_dir_, id);
  std::string native_id;
  {
    // A job being launched has no status yet: it comes once sbatch answers.
    const auto until = std::chrono::steady_clock::now() + kCommandTimeout;
    while (!dir.read_status() && std::chrono::steady_clock::now() < until && fs::is_directory(dir.root())) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    detail::FileLock lock = detail::FileLock::acquire(lock_file(dir), detail::FileLock::Mode::exclusive);
    const std::optional<JobInfo> status = dir.read_status();
    if (!status || is_finished(status->status)) return;
    detail::write_file(stop_file(dir), "stop\n");
    native_id = status->native_id;
  }
  cancel(native_id);
  // Stopped once Slurm says the job has ended (scancel's SIGTERM, KillWait,
  // SIGKILL); bounded, then recorded stopped anyway.
  const auto deadline = std::chrono::steady_clock::now() + clamp_duration<std::chrono::milliseconds>(options_.stop_timeout);
  std::chrono::milliseconds pause(50);
  JobInfo info;
  for (;;) {
    info = poll(id);
    if (is_finished(info.status)) return;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::milliseconds>(pause * 3 / 2, std::chrono::milliseconds(1000));
  }
  detail::FileLock lock = detail::FileLock::acquire(lock_file(dir), detail::FileLock::Mode::exclusive);
  std::optional<JobInfo> current = dir.read_status();
  if (!current || is_finished(current->status)) return;
  for (ReplicaInfo& replica : current->replicas) {
    if (!is_finished(replica.status)) {
      replica.status = JobStatus::stopped;
      replica.error = "stopped";
    }
  }
  current->status = JobStatus::stopped;
  current->error = fmt::format("stopped: scancel {} was sent, but Slurm still reported the job {} {} s later", current->native_id,
                               to_string(info.status), std::chrono::duration_cast<std::chrono::seconds>(options_.stop_timeout).count());
  current->ended = JobClock::now();
  dir.write_status(*current);
}

std::vector<JobInfo> SlurmCluster::list() {
  for (int tries = 0;; ++tries) {
    std::vector<JobId> ids;
    std::error_code error;
    for (const fs::directory_entry& entry : fs::directory_iterator(jobs_dir_, error)) {
      if (entry.is_directory(error) && fs::exists(entry.path() / "request.json", error)) ids.push_back(entry.path().filename().string());
    }
    try {
      std::vector<JobInfo> infos = poll(ids);
      std::sort(infos.begin(), infos.end(), [](const JobInfo& a, const JobInfo& b) {
        return std::tie(a.submitted, a.id) < std::tie(b.submitted, b.id);
      });
      return infos;
    } catch (const JobNotFound&) {
      if (tries >= 3) throw;  // removed while listed: list again
    }
  }
}

std::vector<LogFile> SlurmCluster::log_files(const JobId& id) { return detail::JobDirectory::open(jobs_dir_, id).log_files(); }

}  // namespace fray
