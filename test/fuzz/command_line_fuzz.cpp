// The `fray` command line's parsing: the input is split at NUL bytes into
// words, read as `fray run`'s options (env options, --timeout, --env...),
// and each word is also given to every number option. Every mistake is a
// UsageError (exit 2) or one of fray's typed errors; a number that parses
// is within the documented limits (README "Numbers and limits").
#include <string>
#include <vector>

#include <fray/duration_limit.hpp>

#include "command_line.hpp"
#include "fuzz_target.hpp"

namespace cli = fray::cli;

namespace {

std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> words;
  for (std::size_t start = 0; start <= text.size() && words.size() < 64;) {
    const std::size_t end = std::min(text.find('\0', start), text.size());
    words.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

// `--option WORD`, read by `parse`.
template <class F>
void as_option_value(const std::string& word, F&& parse) {
  cli::ArgReader args("fray fuzz", {"--option", word});
  (void)args.take_option();
  try {
    parse(args);
  } catch (const cli::UsageError&) {
  }
}

void check_numbers(const std::string& word) {
  as_option_value(word, [](cli::ArgReader& args) {
    if (const auto seconds = cli::seconds_option(args, "--option"); seconds && seconds->count() <= 0) {
      fray::fuzz::property_broken("a timeout of 0 or less was accepted");
    }
  });
  as_option_value(word, [](cli::ArgReader& args) {
    if (const auto age = cli::days_option(args, "--option"); age && age->count() < 0) {
      fray::fuzz::property_broken("a negative age was accepted");
    }
  });
  as_option_value(word, [](cli::ArgReader& args) {
    if (cli::size_option(args, "--option", false) == 0) fray::fuzz::property_broken("a size of 0 was accepted");
  });
  as_option_value(word, [](cli::ArgReader& args) {
    const int count = cli::count_option(args, "--option", 1, 1000000);
    if (count < 1 || count > 1000000) fray::fuzz::property_broken("a count out of its range was accepted");
  });
  as_option_value(word, [](cli::ArgReader& args) {
    const double cpu = cli::positive_option(args, "--option", 1000000);
    if (!(cpu > 0 && cpu <= 1000000)) fray::fuzz::property_broken("a cpu count out of its range was accepted");
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::string> words = words_of(fray::fuzz::text_of(data, size));
  cli::ArgReader args("fray run", words);
  try {
    (void)cli::parse_env_command(args);
  } catch (const cli::UsageError&) {
  } catch (const fray::Error&) {  // InvalidRequirement, InvalidOptions: what the env's options say
  }
  for (const std::string& word : words) check_numbers(word);
  return 0;
}
