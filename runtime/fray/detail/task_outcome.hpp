// The one exit path that tasks and actor calls share. Whatever ends a task
// (a value, an error, a cancel, the shutdown, a failed dependency, a dead
// actor), its outcome is published by TaskCompletion::publish_outcome(),
// which first lets go of the function and its arguments (they are not kept
// alive by the future), then closes a streaming task's channel with the same
// outcome, then makes the result visible and wakes every waiter.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "fray/detail/shared_state.hpp"
#include "fray/detail/stream_channel.hpp"

namespace fray::detail {

template <class Value>
struct Outcome {
  std::optional<stored_t<Value>> value;
  std::exception_ptr error;

  static Outcome failed(std::exception_ptr e) noexcept { return Outcome{std::nullopt, std::move(e)}; }
};

// Calls `call()` once: its value, or what it threw.
template <class Value, class Call>
Outcome<Value> call_catching(Call&& call) noexcept {
  Outcome<Value> outcome;
  try {
    if constexpr (std::is_void_v<Value>) {
      call();
      outcome.value.emplace();
    } else {
      outcome.value.emplace(call());
    }
  } catch (...) {
    outcome.value.reset();
    outcome.error = std::current_exception();
  }
  return outcome;
}

// A finished coroutine's result (or exception); destroys its frame.
template <class Value, class Promise>
Outcome<Value> take_coroutine_outcome(std::coroutine_handle<Promise> frame) noexcept {
  Outcome<Value> outcome = call_catching<Value>([&]() -> decltype(auto) { return frame.promise().take_result(); });
  frame.destroy();
  return outcome;
}

// `Derived` provides release_body() (lets go of the function, arguments and
// whatever else ties the task to the runtime) and channel() (the stream
// channel of a streaming task, or null).
template <class Derived, class Value>
class TaskCompletion : public SharedState<Value> {
 protected:
  explicit TaskCompletion(std::uint32_t refs) noexcept : SharedState<Value>(refs) {}

  // After begin_completion (or a cancel that won before the start).
  void publish_outcome(Outcome<Value>&& outcome) noexcept {
    Derived& self = static_cast<Derived&>(*this);
    self.release_body();
    if (ChannelCloser* channel = self.channel()) channel->close(outcome.error);
    if (outcome.error) {
      this->publish_error(std::move(outcome.error));
    } else if constexpr (std::is_void_v<Value>) {
      this->publish_value();
    } else {
      this->publish_value(std::move(*outcome.value));
    }
  }
};

}  // namespace fray::detail
