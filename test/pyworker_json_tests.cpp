// JSON at the edges of what crosses between C++ and Python workers: nesting
// up to fray::max_python_json_depth crosses intact both ways; deeper
// values, non-finite numbers, invalid UTF-8, integers beyond 64 bits and
// lone surrogates fail the one call with fray::UnsupportedJson (arguments
// before they are sent), and the worker serves the next call. Also through
// `fray call`. Offline: the fray_probe wheels of venv_test_support.hpp.
#include "test_support.hpp"
#include "venv_test_support.hpp"

#include <fray/python.hpp>

#include <boost/json.hpp>

#include <cmath>
#include <cstring>
#include <limits>

using namespace fray_test;
using namespace std::chrono_literals;
using fray::IsolatedVirtualEnv;
using fray::UnsupportedJson;
using fray::WorkerPool;
using fray::WorkerPoolOptions;
namespace json = boost::json;

namespace {

constexpr std::size_t kLimit = fray::max_python_json_depth;

const IsolatedVirtualEnv& probe_env() {
  static IsolatedVirtualEnv env(probe_options(shared_cache(), 1));
  return env;
}

// A pool of one worker that is never replaced behind the test's back.
WorkerPool one_worker_pool() {
  return WorkerPool(probe_env(), WorkerPoolOptions{}.with_max_workers(1).with_min_workers(1));
}

// Arrays (or, with `mixed`, arrays and objects {"k": ...} in turn) nested
// `depth` deep, built from the inside out: nested(1) is [], nested(2) [[]].
json::value nested(std::size_t depth, bool mixed = false) {
  json::value value = json::array();
  for (std::size_t level = 1; level < depth; ++level) {
    if (mixed && level % 2 == 1) {
      value = json::object{{"k", std::move(value)}};
    } else {
      json::array outer;
      outer.push_back(std::move(value));
      value = std::move(outer);
    }
  }
  return value;
}

// The call fails with UnsupportedJson saying `says`.
template <class F>
void check_unsupported(F&& future, const std::string& says) {
  const UnsupportedJson error = error_of<UnsupportedJson>(std::forward<F>(future));
  INFO(std::string(error.what()));
  CHECK(std::string(error.what()).find(says) != std::string::npos);
}

int worker_pid(const WorkerPool& pool) { return pool.call<int>("fray_probe.calls:pid").get(); }

// The pool's one worker is still `pid` and answers.
void check_same_worker(const WorkerPool& pool, int pid) {
  CHECK(worker_pid(pool) == pid);
  CHECK(pool.call<int>("fray_probe.calls:add", 2, 40).get() == 42);
  CHECK(pool.worker_pids() == std::vector<int>{pid});
}

std::string limit_text() { return std::to_string(kLimit); }

}  // namespace

TEST_CASE("parse_python_json reads every integer that fits in 64 bits exactly, and refuses what would change on the way") {
  const auto parsed = [](std::string_view text) { return fray::parse_python_json(text, "the text"); };
  CHECK(parsed("9223372036854775807").as_int64() == std::numeric_limits<std::int64_t>::max());
  CHECK(parsed("-9223372036854775808").as_int64() == std::numeric_limits<std::int64_t>::min());
  CHECK(parsed("18446744073709551615").as_uint64() == std::numeric_limits<std::uint64_t>::max());
  CHECK(parsed("-0").is_int64());
  CHECK(parsed("1E5").as_double() == 1e5);
  CHECK(parsed("1e308").as_double() == 1e308);
  CHECK(parsed("1e-400").as_double() == 0.0);  // underflow is a value, not a refusal (Python's float too)
  CHECK(parsed(R"("\ud83d\ude00")").as_string() == "\xf0\x9f\x98\x80");
  CHECK(parsed(std::string(kLimit, '[') + std::string(kLimit, ']')) == nested(kLimit));
  for (const char* refused : {"18446744073709551616", "-9223372036854775809", "[1, 100000000000000000000000]",
                              "1e309", "-1e400", "1e99999999999", R"("\ud800")", R"("\udc00")", R"("\ud800\u0041")"}) {
    CAPTURE(refused);
    CHECK_THROWS_AS(parsed(refused), UnsupportedJson);
  }
  CHECK_THROWS_WITH_AS(parsed(std::string(kLimit + 1, '[') + std::string(kLimit + 1, ']')),
                       ("the text: nested deeper than " + limit_text() +
                        " levels of arrays and objects (fray::max_python_json_depth)").c_str(),
                       UnsupportedJson);
  // Text that is not JSON is another error: `fray call` passes it on as a string.
  for (const char* not_json : {"[1,", "hello", "\"caf\xe9\"", "1 2", R"(["\\ud800" x])"}) {
    CAPTURE(not_json);
    CHECK_THROWS_AS(parsed(not_json), boost::system::system_error);
  }
}

TEST_CASE("every float crosses to Python and back bit-exact, as Python's shortest repr of it") {
  // Boost.JSON 1.81's parser can be a unit in the last place off for
  // numbers of 16-17 significant digits (fray-soak found
  // 0.0010001300000000001 coming back as 0.00100013).
  std::vector<double> floats{1.0001300000000001E-3, 0.1, 1.0 / 3.0, 2.2250738585072014e-308, 1.7976931348623157e308,
                             4.9406564584124654e-324, -123456.78901234567, 6.02214076e23};
  std::uint64_t bits = 0x3ff0123456789abcULL;
  for (int i = 0; i < 2000; ++i) {
    bits = bits * 6364136223846793005ULL + 1442695040888963407ULL;  // a fixed pseudo-random walk over doubles
    double value = 0;
    std::memcpy(&value, &bits, sizeof value);
    if (std::isfinite(value)) floats.push_back(value);
  }
  std::size_t changed_here = 0;
  for (double value : floats) {
    const double back = fray::parse_python_json(json::serialize(json::value(value)), "the text").as_double();
    if (std::memcmp(&back, &value, sizeof value) != 0) ++changed_here;
  }
  CHECK(changed_here == 0);
  WorkerPool pool = one_worker_pool();
  json::array sent;
  for (double value : floats) sent.emplace_back(value);
  const json::value back = pool.call<json::value>("fray_probe.calls:identity", sent).get(60s);
  REQUIRE(back.is_array());
  REQUIRE(back.as_array().size() == sent.size());
  std::size_t changed_by_python = 0;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    const double value = sent[i].as_double(), returned = back.as_array()[i].to_number<double>();
    if (std::memcmp(&returned, &value, sizeof value) != 0) ++changed_by_python;
  }
  CHECK(changed_by_python == 0);
}

TEST_CASE("check_python_json names where in a value the part that cannot cross is, as a JSON Pointer") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(fray::check_python_json(json::value{{"a/b", json::array{1, {{"~", inf}}}}}, "x"),
                       "x at /a~1b/1/~0: inf is not finite (JSON has no NaN or infinity)", UnsupportedJson);
  CHECK_THROWS_WITH_AS(fray::check_python_json(json::value{{"k\xff", 1}}, "x"),
                       "x at /k\\xff: a key that is not valid UTF-8", UnsupportedJson);
  json::value deep = std::nan("");
  for (int i = 0; i < 20; ++i) deep = json::array{0, std::move(deep)};
  CHECK_THROWS_WITH_AS(fray::check_python_json(deep, "x"),
                       "x at /1/1/1/...(11 levels).../1/1/1/1/1/1: nan is not finite (JSON has no NaN or infinity)",
                       UnsupportedJson);
  CHECK_NOTHROW(fray::check_python_json(nested(kLimit, true), "x"));
}

TEST_CASE("JSON nested 1000 levels deep, and as deep as fray's limit, crosses to Python and back intact") {
  Watchdog watchdog("deep JSON round trips", 120s);
  WorkerPool pool = one_worker_pool();
  for (std::size_t depth : {std::size_t(33), std::size_t(1000), kLimit}) {
    for (bool mixed : {false, true}) {
      CAPTURE(depth);
      CAPTURE(mixed);
      const json::value deep = nested(depth, mixed);
      CHECK(pool.call("fray_probe.calls:identity", deep).get() == deep);
      // echo answers {"kwargs": {"x": ...}}: two levels more.
      const json::value keyword = nested(depth - 2, mixed);
      CHECK(pool.call("fray_probe.calls:echo", fray::kw("x", keyword)).get().at("kwargs").at("x") == keyword);
    }
    // Built in Python, not echoed: the same value.
    CHECK(pool.call("fray_probe.calls:nested", int(depth)).get() == nested(depth));
  }
}

TEST_CASE("an argument nested deeper than the limit fails with UnsupportedJson naming it, and the worker serves the next call") {
  Watchdog watchdog("too deep arguments", 120s);
  WorkerPool pool = one_worker_pool();
  const int pid = worker_pid(pool);
  check_unsupported(pool.call("fray_probe.calls:identity", nested(kLimit + 1)), "deeper than " + limit_text());
  check_same_worker(pool, pid);
  check_unsupported(pool.call("fray_probe.calls:echo", 1, fray::kw("x", nested(kLimit + 1, true))),
                    "deeper than " + limit_text());
  check_unsupported(pool.call("fray_probe.calls:identity", nested(100'000)), "deeper than " + limit_text());
  check_same_worker(pool, pid);
}

TEST_CASE("a NaN or infinite argument fails with UnsupportedJson before it is sent, and the worker serves the next call") {
  Watchdog watchdog("non-finite arguments", 120s);
  WorkerPool pool = one_worker_pool();
  const int pid = worker_pid(pool);
  const double inf = std::numeric_limits<double>::infinity();
  check_unsupported(pool.call("fray_probe.calls:identity", std::nan("")), "not finite");
  check_same_worker(pool, pid);
  check_unsupported(pool.call("fray_probe.calls:identity", inf), "not finite");
  check_same_worker(pool, pid);
  check_unsupported(pool.call("fray_probe.calls:identity", std::vector<double>{1, -inf}), "not finite");
  check_unsupported(pool.call("fray_probe.calls:echo", fray::kw("x", json::object{{"a", json::array{1, inf}}})),
                    "/a/1");
  check_same_worker(pool, pid);
}

TEST_CASE("an argument with invalid UTF-8 in a string or a key fails with UnsupportedJson, and the worker serves the next call") {
  Watchdog watchdog("invalid UTF-8 arguments", 120s);
  WorkerPool pool = one_worker_pool();
  const int pid = worker_pid(pool);
  // A stray byte, a truncated sequence, an overlong NUL, a surrogate in UTF-8.
  for (const std::string bad : {"\xff", "ab\xe2\x82", "\xc0\x80", "\xed\xa0\x80"}) {
    CAPTURE(bad);
    check_unsupported(pool.call("fray_probe.calls:identity", bad), "UTF-8");
    check_same_worker(pool, pid);
  }
  check_unsupported(pool.call("fray_probe.calls:identity", json::object{{"ok", 1}, {"k\xff", 2}}), "UTF-8");
  check_unsupported(pool.call("fray_probe.calls:echo", fray::kw("n\xff", 1)), "UTF-8");
  check_same_worker(pool, pid);
  // Valid UTF-8 of every length crosses as it is.
  const std::string text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";  // a, e acute, euro sign, an emoji
  CHECK(pool.call<std::string>("fray_probe.calls:identity", text).get() == text);
}

TEST_CASE("a Python result of NaN or infinity fails that call with UnsupportedJson, and the worker serves the next call") {
  Watchdog watchdog("non-finite results", 120s);
  WorkerPool pool = one_worker_pool();
  const int pid = worker_pid(pool);
  for (const char* name : {"nan", "inf", "-inf"}) {
    CAPTURE(name);
    check_unsupported(pool.call("builtins:float", name), "not finite");
    check_same_worker(pool, pid);
  }
}

TEST_CASE("a Python integer beyond 64 bits fails that call with UnsupportedJson instead of becoming a double") {
  Watchdog watchdog("big integer results", 120s);
  WorkerPool pool = one_worker_pool();
  const int pid = worker_pid(pool);
  check_unsupported(pool.call("builtins:pow", 2, 70), "1180591620717411303424");
  check_same_worker(pool, pid);
  check_unsupported(pool.call("builtins:pow", -2, 65), "64 bits");
  check_same_worker(pool, pid);
  check_unsupported(pool.call("builtins:pow", 10, 5000), "64 bits");  // too long even for Python's str()
  check_same_worker(pool, pid);
  // Just past uint64 is refused; the ends of int64 and uint64 cross exactly.
  check_unsupported(pool.call("builtins:pow", 2, 64), "18446744073709551616");
  const json::value top = pool.call("builtins:sum", std::vector<std::uint64_t>{std::numeric_limits<std::uint64_t>::max()}).get();
  CHECK(top.is_uint64());
  CHECK(top.as_uint64() == std::numeric_limits<std::uint64_t>::max());
  const json::value bottom = pool.call("builtins:sum", std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min()}).get();
  CHECK(bottom.is_int64());
  CHECK(bottom.as_int64() == std::numeric_limits<std::int64_t>::min());
}

TEST_CASE("a Python result nested deeper than the limit, or containing itself, fails that call with UnsupportedJson, and the worker serves the next call") {
  Watchdog watchdog("too deep results", 120s);
  WorkerPool pool = one_worker_pool();
  const int pid = worker_pid(pool);
  for (int depth : {int(kLimit) + 1, 2000, 1'000'000}) {
    CAPTURE(depth);
    check_unsupported(pool.call("fray_probe.calls:nested", depth), "deeper than " + limit_text());
    check_same_worker(pool, pid);
  }
  check_unsupported(pool.call("fray_probe.calls:nested", 2000, "k"), "deeper than " + limit_text());
  check_unsupported(pool.call("fray_probe.calls:self_containing"), "deeper than " + limit_text());
  check_same_worker(pool, pid);
}

TEST_CASE("a Python result with a lone surrogate fails that call with UnsupportedJson, an error with one arrives escaped, and the worker serves the next call") {
  Watchdog watchdog("lone surrogates", 120s);
  WorkerPool pool = one_worker_pool();
  const int pid = worker_pid(pool);
  for (int code : {0xD800, 0xDFFF}) {
    CAPTURE(code);
    check_unsupported(pool.call("builtins:chr", code), "surrogate");
    check_same_worker(pool, pid);
  }
  // A pair is one character, and crosses.
  CHECK(pool.call<std::string>("builtins:chr", 0x1F600).get() == "\xf0\x9f\x98\x80");
  // In an exception's message it arrives escaped.
  const fray::PythonError error = error_of<fray::PythonError>(pool.call("builtins:exec", "raise ValueError(chr(0xD800))"));
  CHECK(error.type() == "ValueError");
  CHECK(error.message() == "\\ud800");
  check_same_worker(pool, pid);
}

TEST_CASE("a Python actor's call with JSON fray cannot carry fails alone, and the actor keeps its process and state") {
  Watchdog watchdog("an actor at the JSON limits", 120s);
  auto counter = fray::create_python_actor(probe_env(), "fray_probe.calls:Counter", 10);
  const int pid = counter.call<int>("pid").get();
  check_unsupported(counter.call("add", std::nan("")), "not finite");
  check_unsupported(counter.call("record", nested(kLimit + 1)), "deeper than " + limit_text());
  check_unsupported(counter.call("record", std::string("\xff")), "UTF-8");
  CHECK(counter.call<int>("record", nested(kLimit - 1)).get() == 1);
  CHECK(counter.call("history").get() == json::value(json::array{nested(kLimit - 1)}));  // [item]: kLimit deep
  CHECK(counter.call<int>("add", 5).get() == 15);
  CHECK(counter.call<int>("pid").get() == pid);
  // A constructor's arguments are refused before any process starts.
  CHECK_THROWS_AS(fray::create_python_actor(probe_env(), "fray_probe.calls:Counter", std::nan("")), UnsupportedJson);
}

TEST_CASE("fray call refuses JSON text it cannot pass on with exit status 2, and prints deep results intact") {
  Watchdog watchdog("fray call at the JSON limits", 300s);
  const fs::path cache = shared_cache();
  const auto call = [&](const std::string& words) {
    return shell(fray_command(cache, fmt::format("call {} {}", probe_cli_options(1), words)));
  };
  const std::string too_deep = std::string(kLimit + 1, '[') + std::string(kLimit + 1, ']');
  struct Refused {
    std::string words, says;
  };
  for (const Refused& refused : {Refused{"fray_probe.calls:identity 1e400", "not finite"},
                                 Refused{"fray_probe.calls:identity '[1, -1e999]'", "not finite"},
                                 Refused{"fray_probe.calls:identity 123456789012345678901234567890", "64 bits"},
                                 Refused{"fray_probe.calls:identity x=-99999999999999999999", "64 bits"},
                                 Refused{"fray_probe.calls:identity '" + too_deep + "'", "deeper than " + limit_text()},
                                 Refused{"fray_probe.calls:identity \"$(printf 'a\\377')\"", "UTF-8"},
                                 Refused{"fray_probe.calls:identity '\"\\ud800\"'", "lone UTF-16 surrogate"},
                                 Refused{"fray_probe.calls:identity \"$(printf '\"a\\377\"')\"", "UTF-8"}}) {
    const auto result = call(refused.words);
    INFO(std::string(refused.words.substr(0, 80)));
    INFO(std::string(result.err));
    CHECK(result.status == 2);
    CHECK(result.err.find(refused.says) != std::string::npos);
    CHECK(result.out.empty());
  }
  // Text that is not JSON is still a string; deep JSON up to the limit is JSON.
  CHECK(trimmed(call("fray_probe.calls:identity 'not [json'").out) == "\"not [json\"");
  const std::string deepest = std::string(kLimit, '[') + std::string(kLimit, ']');
  const auto deep = call("fray_probe.calls:identity '" + deepest + "'");
  CHECK(deep.status == 0);
  CHECK(trimmed(deep.out) == deepest);
  // A result that cannot cross fails the call (exit status 1), saying why.
  const auto big = call("builtins:pow 2 70");
  INFO(std::string(big.err));
  CHECK(big.status == 1);
  CHECK(big.err.find("64 bits") != std::string::npos);
  CHECK(big.out.empty());
}
