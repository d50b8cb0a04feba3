#include "fray/detail/slurm_output.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <ctime>

namespace fray::detail {

namespace {

std::string first_word(std::string_view text) {
  std::string word = trimmed(text);
  word = word.substr(0, word.find(' '));
  while (!word.empty() && word.back() == '+') word.pop_back();  // sacct's truncation mark
  return word;
}

// The value of "Key=" in `scontrol -o show job`'s line (which starts with a space here).
std::string scontrol_field(const std::string& line, std::string_view key) {
  const std::string needle = fmt::format(" {}=", key);
  const std::size_t at = line.find(needle);
  if (at == std::string::npos) return {};
  const std::size_t start = at + needle.size();
  return line.substr(start, line.find(' ', start) - start);
}

}  // namespace

std::string trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return std::string(text);
}

std::string one_line(std::string_view text) {
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string line = trimmed(text.substr(start, end - start));
    if (!line.empty()) out += (out.empty() ? "" : "; ") + line;
    start = end + 1;
  }
  return out;
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const std::size_t end = text.find(separator, start);
    parts.emplace_back(text.substr(start, end == std::string_view::npos ? text.npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::string join(const std::vector<std::string>& words, std::string_view separator) {
  std::string out;
  for (const std::string& word : words) out += (out.empty() ? "" : std::string(separator)) + word;
  return out;
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::optional<JobClock::time_point> parse_slurm_time(std::string_view text) {
  std::tm tm{};
  int used = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                  &used) != 6 ||
      used != int(copy.size())) {
    return std::nullopt;
  }
  // Slurm prints four-digit years and real clock fields; anything else is
  // not a time it wrote (and out-of-range fields would overflow tm_year).
  if (tm.tm_year < 1970 || tm.tm_year > 9999 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  const std::time_t time = std::mktime(&tm);
  if (time == std::time_t(-1)) return std::nullopt;
  // JobClock counts nanoseconds in 64 bits: up to the year 2262. A later
  // time (a hostile or broken Slurm) would overflow; it is no time fray uses.
  constexpr auto latest = std::chrono::duration_cast<std::chrono::seconds>(JobClock::duration::max()).count();
  if (time < 0 || time >= latest) return std::nullopt;
  return JobClock::from_time_t(time);
}

std::map<std::string, SlurmJobSeen> parse_squeue_output(std::string_view out) {
  std::map<std::string, SlurmJobSeen> seen;
  for (const std::string& line : split(out, '\n')) {
    const std::vector<std::string> fields = split(line, '|');
    if (fields.size() < 5) continue;
    SlurmJobSeen job;
    job.state = first_word(fields[1]);
    job.start = parse_slurm_time(fields[2]);
    job.end = parse_slurm_time(fields[3]);
    std::vector<std::string> reason(fields.begin() + 4, fields.end());
    job.reason = join(reason, "|");
    job.source = "squeue";
    seen[trimmed(fields[0])] = std::move(job);
  }
  return seen;
}

std::map<std::string, SlurmJobSeen> parse_sacct_output(std::string_view out) {
  std::map<std::string, SlurmJobSeen> seen;
  for (const std::string& line : split(out, '\n')) {
    const std::vector<std::string> fields = split(line, '|');
    if (fields.size() < 5) continue;
    SlurmJobSeen job;
    job.state = first_word(fields[1]);
    job.exit_code = trimmed(fields[2]);
    job.start = parse_slurm_time(trimmed(fields[3]));
    job.end = parse_slurm_time(trimmed(fields[4]));
    job.source = "sacct";
    seen[trimmed(fields[0])] = std::move(job);
  }
  return seen;
}

std::optional<SlurmJobSeen> parse_scontrol_output(std::string_view out) {
  std::string line(1, ' ');
  line += trimmed(out);  // (not " " + ...: GCC 12 warns of a false -Wrestrict there)
  SlurmJobSeen job;
  job.state = first_word(scontrol_field(line, "JobState"));
  if (job.state.empty()) return std::nullopt;
  job.reason = scontrol_field(line, "Reason");
  job.exit_code = scontrol_field(line, "ExitCode");
  job.start = parse_slurm_time(scontrol_field(line, "StartTime"));
  job.end = parse_slurm_time(scontrol_field(line, "EndTime"));
  job.source = "scontrol";
  return job;
}

std::optional<std::string> parse_sbatch_job_id(std::string_view out) {
  const std::string answer = trimmed(out);
  std::string id = answer.substr(0, answer.find(';'));  // "ID;CLUSTER" on a federation
  if (!all_digits(id)) return std::nullopt;
  return id;
}

}  // namespace fray::detail
