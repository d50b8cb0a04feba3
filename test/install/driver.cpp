// A program that uses an installed fray, as a user's would: test/install/
// install_test.sh builds it outside fray's tree three ways (pkg-config,
// CMake's find_package, a Meson subproject) and runs it. It runs a task, an
// actor call, a command in an isolated env, a Python worker call and a local
// job, and says which check failed.
//
//   driver WHEEL_DIR WORK_DIR
// WHEEL_DIR holds the fray_probe 1.0 wheel (installed offline); WORK_DIR is
// for the env cache and the jobs' records.
#include <fray/fray.hpp>
#include <fray/jobs.hpp>
#include <fray/python.hpp>
#include <fray/venv.hpp>
#include <fray/version.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace {

struct Counter {
  explicit Counter(int start) : value(start) {}
  int add(int n) { return value += n; }
  int value;
};

int failures = 0;

void check(bool ok, std::string_view what) {
  fmt::print("{} {}\n", ok ? "ok:" : "FAILED:", what);
  if (!ok) ++failures;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fmt::print(stderr, "usage: driver WHEEL_DIR WORK_DIR\n");
    return 2;
  }
  const std::string wheels = argv[1];
  const std::filesystem::path work = argv[2];
  try {
    check(fray::version() == FRAY_VERSION, fmt::format("fray {} (headers {})", fray::version(), FRAY_VERSION));

    fray::Runtime runtime;
    auto& ctx = runtime.context();
    check(ctx.run([](int x) { return x * 2; }, 21).get() == 42, "a task doubles 21");
    auto counter = ctx.create_actor<Counter>(100);
    check(counter.call(&Counter::add, 10).get() == 110, "an actor call adds 10 to 100");

    fray::IsolatedVirtualEnv venv(fray::VenvOptions{}
                                      .with_python("/usr/bin/python3")
                                      .with_cache_dir(work / "cache")
                                      .with_package("fray_probe==1.0")
                                      .with_no_index()
                                      .with_find_links(wheels));
    auto probed = venv.run({"python", "-c", "import fray_probe; print(fray_probe.__version__)"}).get();
    check(probed.status() == 0 && probed.out == "1.0\n", fmt::format("venv.run sees fray_probe 1.0: {}", probed.out));

    fray::WorkerPool pool(venv);
    check(pool.call<int>("fray_probe.calls:add", 2, 3).get() == 5, "a Python worker adds 2 and 3");

    fray::LocalCluster cluster(fray::LocalClusterOptions{}.with_jobs_dir(work / "jobs"));
    fray::JobRequest request;
    request.name = "echo";
    request.entrypoint = fray::Entrypoint::binary({"/bin/echo", "job ran"});
    fray::JobHandle job = cluster.submit(request);
    const fray::JobInfo info = job.wait();
    check(info.status == fray::JobStatus::succeeded && job.logs().find("job ran") != std::string::npos,
          fmt::format("a local job succeeds: {}", job.logs()));
  } catch (const std::exception& e) {
    check(false, fmt::format("no exception: {}", e.what()));
  }
  return failures == 0 ? 0 : 1;
}
