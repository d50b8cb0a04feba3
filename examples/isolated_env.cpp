#include <fray/venv.hpp>
#include <fmt/core.h>

// Ray: runtime_env={"pip": ["requests==2.31.0"], "env_vars": {"GREETING": "hello"}}
int main() {
  fray::IsolatedVirtualEnv venv(fray::VenvOptions{}
                                    .with_package("requests==2.31.0")
                                    .with_env("GREETING", "hello"));
  auto result = venv.run({"python", "-c",
                          "import os, requests; print(os.environ['GREETING'], requests.__version__)"})
                    .get();  // or co_await in a fray::Task
  fmt::print("{}", result.out);
  return result.status();
}
