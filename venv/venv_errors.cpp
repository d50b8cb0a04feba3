#include "fray/venv_errors.hpp"

#include <fmt/format.h>

#include "fray/detail/url_redaction.hpp"

namespace fray {

InvalidRequirement::InvalidRequirement(std::string requirement, const std::string& reason)
    : RuntimeEnvError(detail::redact_text(fmt::format("invalid requirement '{}': {}", requirement, reason))),
      requirement_(std::move(requirement)) {}

RuntimeEnvSetupError::RuntimeEnvSetupError(std::string summary, std::vector<std::string> command, int exit_status,
                                           std::vector<std::string> last_lines, std::filesystem::path log)
    : RuntimeEnvError(summary),
      command_(std::move(command)),
      exit_status_(exit_status),
      last_lines_(std::move(last_lines)),
      log_(std::move(log)) {}

}  // namespace fray
