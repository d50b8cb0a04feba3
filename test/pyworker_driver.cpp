// A driver for the orphan test of pyworker_tests.cpp: starts a pool of two
// workers and a Python actor in the fray_probe 1.0 env, writes their pids
// and "ready" to a file, then waits to be killed.
//
//   pyworker_driver CACHE_DIR FIND_LINKS_DIR OUT_FILE
#include <fray/python.hpp>
#include <fray/venv.hpp>

#include <unistd.h>

#include <fstream>

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  fray::IsolatedVirtualEnv env(fray::VenvOptions{}
                                   .with_python("/usr/bin/python3")
                                   .with_cache_dir(argv[1])
                                   .with_package("fray_probe==1.0")
                                   .with_no_index()
                                   .with_find_links(argv[2]));
  fray::WorkerPool pool(env, fray::WorkerPoolOptions{}.with_max_workers(2));
  auto a = pool.call<int>("fray_probe.calls:pid");
  auto b = pool.call<int>("fray_probe.calls:pid");
  auto actor = fray::create_python_actor(env, "fray_probe.calls:Counter");
  const int actor_pid = actor.call<int>("pid").get();
  std::ofstream out(argv[3]);
  out << a.get() << " " << b.get() << " " << actor_pid << " ready" << std::endl;
  for (;;) ::pause();
}
