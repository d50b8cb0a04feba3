// A driver for local_cluster_tests.cpp: launches COUNT jobs of `true` on
// the local cluster at JOBS_DIR one after the other, each waited for (so
// that, from the second on, the cluster keeps a spare supervisor), writes
// "ready" to OUT_FILE, then waits to be killed.
//
//   local_cluster_driver JOBS_DIR COUNT OUT_FILE
#include <fray/jobs.hpp>

#include <unistd.h>

#include <cstdlib>
#include <fstream>

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  fray::LocalCluster cluster(fray::LocalClusterOptions{}.with_jobs_dir(argv[1]));
  for (int i = 0, count = std::atoi(argv[2]); i < count; ++i) {
    fray::JobRequest request;
    request.name = "driven";
    request.entrypoint = fray::Entrypoint::binary({"true"});
    if (cluster.wait(cluster.launch(request)).status != fray::JobStatus::succeeded) return 1;
  }
  std::ofstream(argv[3]) << "ready" << std::endl;
  for (;;) ::pause();
}
