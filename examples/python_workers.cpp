#include <fray/python.hpp>
#include <fmt/core.h>

// Ray: @ray.remote(runtime_env={"pip": ["numpy"]}) def mean(xs): ...  and  @ray.remote class Counter
int main() {
  fray::IsolatedVirtualEnv venv(fray::VenvOptions{}.with_package("numpy"));
  fray::WorkerPool pool(venv);
  fray::Future<double> mean = pool.call<double>("numpy:mean", std::vector<double>{1, 2, 3, 4});
  auto counter = fray::create_python_actor(venv, "collections:Counter", "abracadabra");
  auto top = counter.call<std::vector<std::pair<std::string, int>>>("most_common", 1);
  fmt::print("mean {}, most common {}\n", mean.get(), top.get()[0].first);  // mean 2.5, most common a
}
