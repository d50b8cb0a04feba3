// What Slurm's commands print (squeue, sacct, scontrol, sbatch), read by
// the Slurm backend: any text gives jobs, nothing, or no job id, and never
// throws; a job id is all digits.
#include <algorithm>
#include <cctype>

#include "fray/detail/slurm_output.hpp"

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fray::fuzz::text_of(data, size);
  (void)fray::detail::parse_squeue_output(text);
  (void)fray::detail::parse_sacct_output(text);
  (void)fray::detail::parse_scontrol_output(text);
  (void)fray::detail::parse_slurm_time(text);
  if (const auto id = fray::detail::parse_sbatch_job_id(text)) {
    if (id->empty() || !std::all_of(id->begin(), id->end(), [](unsigned char c) { return std::isdigit(c); })) {
      fray::fuzz::property_broken("sbatch's answer gave a job id that is not a number");
    }
  }
  return 0;
}
