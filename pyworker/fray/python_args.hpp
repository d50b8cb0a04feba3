// How arguments reach Python: every argument goes through
// boost::json::value_from (so user types convert with their tag_invoke),
// and fray::kw("name", value) makes a keyword argument. A type that does
// not convert to JSON is a compile error at the call.
//
//   pool.call<int>("m:f", 1, std::string("two"), fray::kw("scale", 2.5));   // f(1, "two", scale=2.5)
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "fray/errors.hpp"

#include "fray/duration_limit.hpp"

namespace fray {

// One keyword argument: fray::kw("name", value).
struct KeywordArg {
  std::string name;
  boost::json::value value;
};

template <class T>
inline constexpr bool is_json_convertible_v =
    std::is_convertible_v<T, boost::json::value> || boost::json::has_value_from<std::decay_t<T>>::value;

template <class T>
KeywordArg kw(std::string name, T&& value) {
  static_assert(is_json_convertible_v<T>,
                "fray::kw(name, value): the value has no JSON form (give its type a boost::json tag_invoke "
                "value_from overload)");
  return KeywordArg{std::move(name), boost::json::value_from(std::forward<T>(value))};
}

// Per-call options: pool.call<R>(PythonCallOptions{}.with_timeout(5s), "m:f", args...).
struct PythonCallOptions {
  // Past it the call fails with PythonCallTimeout and its worker is killed
  // and replaced; unset: the pool's call_timeout.
  std::optional<std::chrono::milliseconds> timeout;
  // Runs the call again (on another worker) this many times when its worker
  // crashes under it (Ray's max_retries for system failures); -1: every
  // time. A Python exception is never retried here (TaskOptions::retry_if
  // can, via ctx.run). Unset: 0 for a pool, the actor's max_task_retries
  // for an actor (so setting only a timeout keeps the actor's retries).
  std::optional<int> max_retries;
  // The longest it may wait to start: in the pool, queued in a busy worker,
  // behind an actor's other calls. Past it the call fails with
  // PythonCallQueueTimeout and never runs (one that the worker starts as
  // fray takes it back runs as usual); once started, only `timeout` counts.
  // Unset: the pool's or actor's call_queue_timeout, else no limit.
  std::optional<std::chrono::milliseconds> queue_timeout;

  // Any duration type; saturated at fray::never_duration (100 years: never), so
  // hours::max() means never rather than overflowing milliseconds.
  template <class Rep, class Period>
  PythonCallOptions& with_timeout(std::chrono::duration<Rep, Period> value) {
    timeout = clamp_duration<std::chrono::milliseconds>(value);
    return *this;
  }
  PythonCallOptions& with_max_retries(int value) { max_retries = value; return *this; }
  template <class Rep, class Period>
  PythonCallOptions& with_queue_timeout(std::chrono::duration<Rep, Period> value) {
    queue_timeout = clamp_duration<std::chrono::milliseconds>(value);
    return *this;
  }

  // Throws InvalidOptions for a timeout or queue_timeout of 0 or less, or max_retries below
  // -1 (a call fails with it, never sent).
  void check() const {
    if (timeout && timeout->count() <= 0) {
      throw InvalidOptions(fmt::format("PythonCallOptions::timeout must be above 0 (got {} ms; 100 years or more means never)",
                                       timeout->count()));
    }
    if (queue_timeout && queue_timeout->count() <= 0) {
      throw InvalidOptions(fmt::format(
          "PythonCallOptions::queue_timeout must be above 0 (got {} ms; 100 years or more means never)",
          queue_timeout->count()));
    }
    if (max_retries && *max_retries < -1) {
      throw InvalidOptions(fmt::format("PythonCallOptions::max_retries must be -1 (always) or more (got {})", *max_retries));
    }
  }
};

namespace detail {

struct PackedArgs {
  boost::json::array args;
  boost::json::object kwargs;
};

template <class A>
void pack_argument(PackedArgs& packed, A&& arg) {
  using T = std::decay_t<A>;
  if constexpr (std::is_same_v<T, KeywordArg>) {
    packed.kwargs[arg.name] = std::forward<A>(arg).value;
  } else {
    static_assert(is_json_convertible_v<A>,
                  "a Python call's argument has no JSON form: use JSON-like types (numbers, strings, vectors, "
                  "maps, boost::json::value) or give the type a boost::json tag_invoke value_from overload");
    packed.args.push_back(boost::json::value_from(std::forward<A>(arg)));
  }
}

template <class... A>
PackedArgs pack_arguments(A&&... args) {
  PackedArgs packed;
  packed.args.reserve(sizeof...(A));
  (pack_argument(packed, std::forward<A>(args)), ...);
  return packed;
}

}  // namespace detail

}  // namespace fray
