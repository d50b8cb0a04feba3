// A job's resource strings (ram, disk) as a JobRequest takes them: a size
// or InvalidJobRequest, never another exception.
#include "fray/job_request.hpp"

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fray::fuzz::text_of(data, size);
  fray::ResourceConfig resources;
  try {
    resources.with_ram(text);
  } catch (const fray::Error&) {
  }
  try {
    resources.with_disk(text);
  } catch (const fray::Error&) {
  }
  return 0;
}
