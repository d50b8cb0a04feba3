#include "fray/detail/env_metadata.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "fray/detail/url_redaction.hpp"

namespace fray::detail {

EnvMetadata parse_env_metadata(std::string_view text) {
  EnvMetadata metadata;
  boost::system::error_code ec;
  const boost::json::value value = boost::json::parse(text, ec);
  if (ec || !value.is_object()) return metadata;
  const auto& object = value.as_object();
  auto text_of = [&object](std::string_view name) -> std::string {
    const auto* field = object.if_contains(name);
    return field != nullptr && field->is_string() ? std::string(field->as_string()) : std::string();
  };
  if (const auto* packages = object.if_contains("packages"); packages != nullptr && packages->is_array()) {
    for (const auto& p : packages->as_array()) {
      if (p.is_string()) metadata.packages.push_back(redact_text(p.as_string()));
    }
  }
  metadata.python = fmt::format("{} {} {}", text_of("implementation"), text_of("python_version"), text_of("python"));
  metadata.installer = text_of("installer");
  return metadata;
}

}  // namespace fray::detail
