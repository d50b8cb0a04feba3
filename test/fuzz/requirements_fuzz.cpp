// Requirement strings and requirements files, as users write them: each is
// refused with InvalidRequirement (or RequirementsFileNotFound for an
// include that is not there), or put in a canonical form that is stable:
// canonicalizing it again changes nothing.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fray/detail/requirements.hpp"

#include "fuzz_target.hpp"

namespace fs = std::filesystem;

namespace {

void check_one_requirement(std::string_view text) {
  std::vector<fs::path> local_files;
  std::string canonical;
  try {
    canonical = fray::detail::canonical_requirement(text, local_files);
  } catch (const fray::Error&) {
    return;
  }
  std::vector<fs::path> again_files;
  std::string again;
  try {
    again = fray::detail::canonical_requirement(canonical, again_files);
  } catch (const fray::Error&) {
    fray::fuzz::property_broken("a requirement's canonical form is refused");
  }
  if (again != canonical) fray::fuzz::property_broken("canonicalizing a canonical requirement changed it");
}

// The input as a requirements file, in a directory of its own (an include
// names files relative to it).
void check_requirements_file(std::string_view text) {
  static const fs::path dir = [] {
    fs::path made = fs::temp_directory_path() / ("fray-fuzz-requirements-" + std::to_string(::getpid()));
    fs::create_directories(made);
    return made;
  }();
  const fs::path file = dir / "requirements.txt";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(text.data(), std::streamsize(text.size()));
  }
  fray::detail::Requirements requirements;
  try {
    fray::detail::read_requirements_file(file, requirements);
    requirements.canonicalize();
  } catch (const fray::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fray::fuzz::text_of(data, size);
  check_one_requirement(text);
  check_requirements_file(text);
  return 0;
}
