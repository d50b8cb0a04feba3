// Until the Slurm backend lands: every call fails with one clear error.
#include "fray/slurm_cluster.hpp"

namespace fray {

namespace {
[[noreturn]] void not_yet() { throw JobError("fray's Slurm backend is not built yet: use the local cluster"); }
}  // namespace

SlurmClusterOptions SlurmClusterOptions::from_spec(const ClusterSpec&) { not_yet(); }
SlurmCluster::SlurmCluster(SlurmClusterOptions options) : options_(std::move(options)) { not_yet(); }
JobId SlurmCluster::launch(const JobRequest&) { not_yet(); }
JobInfo SlurmCluster::poll(const JobId&) { not_yet(); }
std::vector<JobInfo> SlurmCluster::poll(const std::vector<JobId>&) { not_yet(); }
void SlurmCluster::terminate(const JobId&) { not_yet(); }
std::vector<JobInfo> SlurmCluster::list() { not_yet(); }
std::string SlurmCluster::spec() const { return "slurm"; }
std::vector<LogFile> SlurmCluster::log_files(const JobId&) { not_yet(); }

}  // namespace fray
