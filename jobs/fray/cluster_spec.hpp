// ClusterSpec: which cluster a FRAY_CLUSTER_SPEC names, as URL-like text:
//   local                                  this machine, its own capacity
//   local?cpu=8&ram=32g&gpu=2              this machine, with that capacity
//   slurm                                  Slurm's default partition
//   slurm?partition=P&account=A&qos=Q&time=HH:MM:SS&nonpreemptible_qos=Q2
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace fray {

struct ClusterSpec {
  std::string scheme;                         // "local" or "slurm"
  std::map<std::string, std::string> params;  // the keys after '?'

  // Throws InvalidClusterSpec naming an unknown scheme or key, or a bad value.
  static ClusterSpec parse(std::string_view text);
  std::string text() const;
  const std::string* find(std::string_view key) const;
};

}  // namespace fray
