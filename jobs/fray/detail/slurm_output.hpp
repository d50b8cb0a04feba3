// What Slurm's commands print, read: squeue's and sacct's '|'-separated
// lines, scontrol's one-line "Key=Value" record, sbatch --parsable's job id,
// and Slurm's times. Pure functions of the text, so that they can be fuzzed
// (test/fuzz/slurm_output_fuzz.cpp) and tested without a Slurm.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fray/job_info.hpp"

namespace fray::detail {

// What Slurm says about one job.
struct SlurmJobSeen {
  std::string state;      // "RUNNING", "CANCELLED" (the first word: sacct says "CANCELLED by 0")
  std::string reason;     // squeue's and scontrol's Reason
  std::string exit_code;  // "1:0" (sacct, scontrol)
  std::optional<JobClock::time_point> start, end;
  std::string source;  // which command said it
};

// `squeue --noheader --format=%i|%T|%S|%e|%r`, by job id; lines with fewer
// fields are skipped (a reason may hold '|': it keeps the rest of the line).
std::map<std::string, SlurmJobSeen> parse_squeue_output(std::string_view out);
// `sacct --noheader --parsable2 --format=JobIDRaw,State,ExitCode,Start,End`, by job id.
std::map<std::string, SlurmJobSeen> parse_sacct_output(std::string_view out);
// `scontrol --oneliner show job ID`; nullopt when it names no JobState.
std::optional<SlurmJobSeen> parse_scontrol_output(std::string_view out);
// `sbatch --parsable`: "ID" or "ID;CLUSTER"; nullopt when that is not a job id.
std::optional<std::string> parse_sbatch_job_id(std::string_view out);

// "2026-12-02T21:31:25" in local time (Slurm's format); nullopt for
// "Unknown", "N/A", "None" and anything else.
std::optional<JobClock::time_point> parse_slurm_time(std::string_view text);

// Text helpers shared with the Slurm backend.
std::string trimmed(std::string_view text);
// Slurm's lines, trimmed, joined with "; " (what an error message carries).
std::string one_line(std::string_view text);
std::vector<std::string> split(std::string_view text, char separator);
std::string join(const std::vector<std::string>& words, std::string_view separator);
bool all_digits(std::string_view text);

}  // namespace fray::detail
