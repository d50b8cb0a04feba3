// Requirement strings and requirements files, checked (PEP 508) and put in a
// canonical form, so that the same set of requirements always gives the
// same cache key and a malformed one fails before anything is built.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fray::detail {

struct Requirements {
  std::vector<std::string> requirements;  // canonical lines, for the generated requirements file
  std::vector<std::string> constraints;   // canonical lines, for the generated constraints file
  std::vector<std::string> option_lines;  // --pre, --prefer-binary, --trusted-host H, --only-binary X, --no-binary X
  std::vector<std::string> find_links;    // from requirements files: absolute paths or URLs
  std::optional<std::string> index_url;
  std::vector<std::string> extra_index_urls;
  bool no_index = false;
  std::vector<std::filesystem::path> local_files;  // archives named by path (their content is hashed into the key)
  std::vector<std::string> as_given;               // the requirements as the user wrote them, for listings

  // Sorts and deduplicates, so the order they were given in does not matter.
  void canonicalize();
};

// PEP 503: lowercase, runs of "-", "_" and "." become one "-".
std::string normalize_name(std::string_view name);

// Checks one requirement and returns its canonical form; a local archive's
// path is made absolute and added to `local_files`. Throws InvalidRequirement.
std::string canonical_requirement(std::string_view text, std::vector<std::filesystem::path>& local_files);

// Reads a requirements file (and the files it includes) into `into`.
// Throws RequirementsFileNotFound or InvalidRequirement.
void read_requirements_file(const std::filesystem::path& file, Requirements& into);

}  // namespace fray::detail
