// The README's hello world is a real program: it is examples/hello.cpp,
// which the build compiles, and it prints what the README says.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace {
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string run_and_capture(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 256> buffer{};
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  CHECK(pclose(pipe) == 0);
  return output;
}

int count_lines(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  return lines;
}
}  // namespace

TEST_CASE("the README shows examples/hello.cpp, under ten lines, as its hello world") {
  const std::string readme = read_file(FRAY_SOURCE_DIR "/README.md");
  const std::string hello = read_file(FRAY_SOURCE_DIR "/examples/hello.cpp");
  CHECK(count_lines(hello) < 10);
  CHECK_MESSAGE(readme.find("```cpp\n" + hello + "```") != std::string::npos,
                "README.md must contain examples/hello.cpp verbatim in a ```cpp block");
}

TEST_CASE("the hello world program runs and prints its result") {
  CHECK(run_and_capture(FRAY_BUILD_DIR "/examples/hello") == "21 doubled is 42\n");
}
