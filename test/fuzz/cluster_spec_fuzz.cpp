// FRAY_CLUSTER_SPEC ("local?cpu=8", "slurm?partition=P"): parsed or refused
// with InvalidClusterSpec; a parsed spec's text parses back to the same spec.
#include "fray/cluster_spec.hpp"

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fray::ClusterSpec spec;
  try {
    spec = fray::ClusterSpec::parse(fray::fuzz::text_of(data, size));
  } catch (const fray::Error&) {
    return 0;
  }
  try {
    const fray::ClusterSpec again = fray::ClusterSpec::parse(spec.text());
    if (again.scheme != spec.scheme || again.params != spec.params) {
      fray::fuzz::property_broken("a cluster spec's text parses to another spec");
    }
  } catch (const fray::Error&) {
    fray::fuzz::property_broken("a cluster spec's own text is refused");
  }
  return 0;
}
