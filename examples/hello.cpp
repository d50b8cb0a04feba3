#include <fray/fray.hpp>
#include <fmt/core.h>

int main() {
  fray::Runtime runtime;
  auto doubled = runtime.context().run([](int x) { return x * 2; }, 21);
  fmt::print("21 doubled is {}\n", doubled.get());
}
