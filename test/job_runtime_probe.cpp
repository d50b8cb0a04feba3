// Run as a job by local_cluster_tests.cpp: a fray Runtime with default
// options inside a job, showing which capacity it took. Prints the cpu of
// the job's allocation, then whether a task asking for one cpu more than
// that is refused (it must be: the job's share, not the machine's, bounds it).
#include <cstdio>

#include <fray/fray.hpp>

int main() {
  const double cpu = fray::job_allocation().get("cpu");
  std::printf("allocation cpu %g\n", cpu);
  fray::Runtime runtime;
  auto& ctx = runtime.context();
  auto fits = ctx.run(fray::TaskOptions{}.with_resources(fray::Resources{}.cpu(cpu)), [] { return 1; });
  std::printf("a task asking cpu %g: %s\n", cpu, fits.get() == 1 ? "ran" : "wrong");
  auto too_big = ctx.run(fray::TaskOptions{}.with_resources(fray::Resources{}.cpu(cpu + 1)), [] { return 1; });
  try {
    too_big.get();
    std::printf("a task asking cpu %g: ran\n", cpu + 1);
  } catch (const fray::TaskUnschedulable&) {
    std::printf("a task asking cpu %g: unschedulable\n", cpu + 1);
  }
  return 0;
}
