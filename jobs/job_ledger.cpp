#include "fray/detail/job_ledger.hpp"

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <fray/detail/file_lock.hpp>
#include <fray/detail/fs_util.hpp>

#include "fray/detail/job_directory.hpp"

namespace fray::detail {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

json::value share_to_json(const JobShare& share) { return {{"cpu", share.cpu}, {"ram", share.ram}, {"gpu", share.gpu}}; }

JobShare share_from_json(const json::value& value) {
  const json::object& in = value.as_object();
  return {in.at("cpu").to_number<double>(), in.at("ram").to_number<std::uint64_t>(), static_cast<int>(in.at("gpu").to_number<std::int64_t>())};
}

struct Ledger {
  std::uint64_t next_seq = 1;
  std::vector<LedgerEntry> entries;
};

Ledger read_ledger(const fs::path& file) {
  Ledger ledger;
  const auto text = read_file(file);
  if (!text || text->empty()) return ledger;
  boost::system::error_code error;
  const json::value value = json::parse(*text, error);
  if (error || !value.is_object()) return ledger;  // unreadable: start over, the live supervisors re-check
  const json::object& in = value.as_object();
  ledger.next_seq = in.at("next_seq").to_number<std::uint64_t>();
  for (const json::value& item : in.at("entries").as_array()) {
    const json::object& e = item.as_object();
    LedgerEntry entry;
    entry.id = std::string(e.at("id").as_string());
    entry.seq = e.at("seq").to_number<std::uint64_t>();
    entry.pid = static_cast<int>(e.at("pid").to_number<std::int64_t>());
    entry.start_time = e.at("start_time").to_number<std::uint64_t>();
    entry.admitted = e.at("admitted").as_bool();
    entry.need = share_from_json(e.at("need"));
    entry.capacity = share_from_json(e.at("capacity"));
    ledger.entries.push_back(std::move(entry));
  }
  return ledger;
}

void write_ledger(const fs::path& file, const Ledger& ledger) {
  json::array entries;
  for (const LedgerEntry& entry : ledger.entries) {
    entries.push_back({{"id", entry.id}, {"seq", entry.seq}, {"pid", entry.pid}, {"start_time", entry.start_time},
                       {"admitted", entry.admitted}, {"need", share_to_json(entry.need)}, {"capacity", share_to_json(entry.capacity)}});
  }
  write_file_atomic(file, json::serialize(json::object{{"next_seq", ledger.next_seq}, {"entries", std::move(entries)}}), false);
}

// Holds ledger.lock while it reads, changes and writes the ledger.
class LockedLedger {
 public:
  explicit LockedLedger(const fs::path& jobs_dir)
      : file_(jobs_dir / "ledger.json"), lock_(FileLock::acquire(jobs_dir / "ledger.lock", FileLock::Mode::exclusive)),
        ledger_(read_ledger(file_)) {}
  Ledger& operator*() { return ledger_; }
  Ledger* operator->() { return &ledger_; }
  void save() { write_ledger(file_, ledger_); }

 private:
  fs::path file_;
  FileLock lock_;
  Ledger ledger_;
};

bool fits(const JobShare& need, const JobShare& used, const JobShare& capacity) {
  constexpr double slack = 1e-9;  // fractional cpus add up exactly enough
  return used.cpu + need.cpu <= capacity.cpu + slack && used.ram + need.ram <= capacity.ram && used.gpu + need.gpu <= capacity.gpu;
}

void signal_if_same(const LedgerEntry& entry, int signal) {
  if (entry.pid > 0 && process_start_time(entry.pid) == entry.start_time) ::kill(entry.pid, signal);
}

// Drops dead supervisors' entries (settling their jobs) and admits waiting
// entries in seq order until one does not fit. True when anything changed.
bool reclaim_and_admit(const fs::path& jobs_dir, Ledger& ledger) {
  bool changed = false;
  std::erase_if(ledger.entries, [&](const LedgerEntry& entry) {
    if (supervisor_alive(jobs_dir, entry.id)) return false;
    settle_dead_supervisor(jobs_dir, entry.id);
    changed = true;
    return true;
  });
  std::sort(ledger.entries.begin(), ledger.entries.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  JobShare used;
  for (const LedgerEntry& entry : ledger.entries) {
    if (!entry.admitted) continue;
    used.cpu += entry.need.cpu;
    used.ram += entry.need.ram;
    used.gpu += entry.need.gpu;
  }
  for (LedgerEntry& entry : ledger.entries) {
    if (entry.admitted) continue;
    if (!fits(entry.need, used, entry.capacity)) break;  // strictly in order
    entry.admitted = true;
    used.cpu += entry.need.cpu;
    used.ram += entry.need.ram;
    used.gpu += entry.need.gpu;
    signal_if_same(entry, SIGUSR1);
    changed = true;
  }
  return changed;
}

}  // namespace

std::uint64_t process_start_time(int pid) noexcept {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  // Field 3 (state) is the first after ")": start time is field 22.
  for (int index = 3; index < 22 && fields >> field; ++index) {
  }
  std::uint64_t start = 0;
  fields >> start;
  return start;
}

fs::path supervisor_lock_file(const fs::path& jobs_dir, const JobId& id) { return jobs_dir / id / "supervisor.lock"; }
fs::path stop_request_file(const fs::path& jobs_dir, const JobId& id) { return jobs_dir / id / "stop"; }

bool supervisor_alive(const fs::path& jobs_dir, const JobId& id) {
  const fs::path lock = supervisor_lock_file(jobs_dir, id);
  std::error_code error;
  if (!fs::exists(lock, error)) return false;
  return !FileLock::try_acquire(lock, FileLock::Mode::shared).has_value();
}

std::optional<JobInfo> settle_dead_supervisor(const fs::path& jobs_dir, const JobId& id) {
  const fs::path lock_path = supervisor_lock_file(jobs_dir, id);
  std::error_code error;
  if (!fs::exists(lock_path, error)) return std::nullopt;  // not started yet
  auto lock = FileLock::try_acquire(lock_path, FileLock::Mode::exclusive);
  if (!lock) return std::nullopt;  // alive
  const JobDirectory dir(jobs_dir, id);
  std::optional<JobInfo> info = dir.read_status();
  if (!info || is_finished(info->status)) return info;
  const bool stop_asked = fs::exists(stop_request_file(jobs_dir, id), error);
  info->status = stop_asked ? JobStatus::stopped : JobStatus::failed;
  info->error = stop_asked ? "stopped (its supervisor ended before it could say so)"
                           : "the job's supervisor died (killed, or the machine went down) before the job ended";
  for (ReplicaInfo& replica : info->replicas) {
    if (is_finished(replica.status)) continue;
    replica.status = info->status;
    replica.error = info->error;
  }
  info->ended = JobClock::now();
  dir.write_status(*info);
  return info;
}

void forget_unstarted_supervisor(const fs::path& jobs_dir, const JobId& id) {
  const fs::path lock_path = supervisor_lock_file(jobs_dir, id);
  std::error_code error;
  if (!fs::exists(lock_path, error)) return;  // it died before it recorded anything
  // Held while the rest goes, so that nobody settles the job as failed
  // in between (settling needs this lock and a status).
  FileLock lock = FileLock::acquire(lock_path, FileLock::Mode::exclusive);
  const JobDirectory dir(jobs_dir, id);
  fs::remove(dir.status_file(), error);
  fs::remove(dir.root() / "supervisor.pid", error);
  JobLedger(jobs_dir).release(id);
  lock.remove_file_and_release();
}

bool JobLedger::enqueue(const JobId& id, const JobShare& need, const JobShare& capacity) {
  LockedLedger ledger(jobs_dir_);
  LedgerEntry entry;
  entry.id = id;
  entry.seq = ledger->next_seq++;
  entry.pid = ::getpid();
  entry.start_time = process_start_time(entry.pid);
  entry.need = need;
  entry.capacity = capacity;
  ledger->entries.push_back(entry);
  reclaim_and_admit(jobs_dir_, *ledger);
  ledger.save();
  return std::any_of(ledger->entries.begin(), ledger->entries.end(), [&](const auto& e) { return e.id == id && e.admitted; });
}

bool JobLedger::try_admit(const JobId& id) {
  LockedLedger ledger(jobs_dir_);
  if (reclaim_and_admit(jobs_dir_, *ledger)) ledger.save();
  const auto mine = std::find_if(ledger->entries.begin(), ledger->entries.end(), [&](const auto& e) { return e.id == id; });
  return mine != ledger->entries.end() && mine->admitted;
}

void JobLedger::release(const JobId& id) {
  LockedLedger ledger(jobs_dir_);
  std::erase_if(ledger->entries, [&](const LedgerEntry& entry) { return entry.id == id; });
  reclaim_and_admit(jobs_dir_, *ledger);
  ledger.save();
}

std::vector<LedgerEntry> JobLedger::entries() const {
  LockedLedger ledger(jobs_dir_);
  return ledger->entries;
}

}  // namespace fray::detail
