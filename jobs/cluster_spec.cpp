#include "fray/cluster_spec.hpp"

#include <set>

#include <fmt/format.h>

#include "fray/job_errors.hpp"

namespace fray {

namespace {

const std::set<std::string, std::less<>>& keys_of(std::string_view scheme) {
  static const std::set<std::string, std::less<>> local{"cpu", "ram", "gpu", "dir"};
  static const std::set<std::string, std::less<>> slurm{"partition", "account", "qos", "time", "nonpreemptible_qos", "dir"};
  return scheme == "local" ? local : slurm;
}

}  // namespace

ClusterSpec ClusterSpec::parse(std::string_view text) {
  ClusterSpec spec;
  const auto question = text.find('?');
  spec.scheme = std::string(text.substr(0, question));
  if (spec.scheme.empty()) spec.scheme = "local";
  if (spec.scheme != "local" && spec.scheme != "slurm") {
    throw InvalidClusterSpec(fmt::format("cluster spec '{}': unknown scheme '{}' (use local or slurm)", text, spec.scheme));
  }
  if (question == std::string_view::npos) return spec;
  std::string_view rest = text.substr(question + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const auto equals = pair.find('=');
    if (equals == std::string_view::npos || equals == 0) {
      throw InvalidClusterSpec(fmt::format("cluster spec '{}': '{}' is not KEY=VALUE", text, pair));
    }
    const std::string key(pair.substr(0, equals));
    if (!keys_of(spec.scheme).contains(key)) {
      throw InvalidClusterSpec(fmt::format("cluster spec '{}': unknown key '{}' for {}", text, key, spec.scheme));
    }
    spec.params[key] = std::string(pair.substr(equals + 1));
  }
  return spec;
}

std::string ClusterSpec::text() const {
  std::string text = scheme;
  char separator = '?';
  for (const auto& [key, value] : params) {
    text += separator + key + '=' + value;
    separator = '&';
  }
  return text;
}

const std::string* ClusterSpec::find(std::string_view key) const {
  const auto found = params.find(std::string(key));
  return found == params.end() ? nullptr : &found->second;
}

}  // namespace fray
