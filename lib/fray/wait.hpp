// wait(futures, num_returns, timeout), as ray.wait: returns the first
// `num_returns` futures that are ready and the rest, both in input order.
// It sleeps until enough are ready (no polling) and costs O(n). Futures of
// different types and object refs wait together as fray::Waitable.
//
// when_all / when_any are the awaitable forms Ray users reach for
// (`await asyncio.gather(...)` over refs): co_await when_all(a, b) gives
// every value (the first failure in input order is rethrown once all are
// done); co_await when_any(a, b) gives the index of one that is ready.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "fray/detail/blocking.hpp"
#include "fray/detail/wait_awaiter.hpp"
#include "fray/detail/wait_group.hpp"
#include "fray/future.hpp"
#include "fray/object_ref.hpp"

namespace fray {

class Waitable;

namespace detail {
template <class T>
struct wait_item {
  using type = Future<T>;
};
template <>
struct wait_item<Waitable> {
  using type = Waitable;
};
template <class Item>
struct wait_value;
template <class T>
struct wait_value<Future<T>> {
  using type = T;
};
template <>
struct wait_value<Waitable> {
  using type = Waitable;
};
}  // namespace detail

// What wait returns: `ready` and `pending`, each in input order. For
// futures of one type, WaitResult<T> holds Future<T>s; over mixed kinds,
// WaitResult<Waitable> holds Waitables.
template <class T>
struct WaitResult {
  using item_type = typename detail::wait_item<T>::type;
  std::vector<item_type> ready;
  std::vector<item_type> pending;
};

// Any future or object ref, for a wait over several kinds at once (ray.wait
// over mixed refs). index() is its position in the list that was waited on.
class Waitable {
 public:
  template <class T>
  Waitable(const Future<T>& future) : state_(future.state_ptr()) {  // NOLINT: implicit on purpose
    if (state_ == nullptr) throw EmptyFuture();
    state_->add_ref();
  }
  template <class T>
  Waitable(const ObjectRef<T>&) noexcept {}  // NOLINT: an object ref is always ready
  Waitable(const Waitable& other) noexcept : state_(other.state_), index_(other.index_) {
    if (state_ != nullptr) state_->add_ref();
  }
  Waitable(Waitable&& other) noexcept : state_(std::exchange(other.state_, nullptr)), index_(other.index_) {}
  Waitable& operator=(Waitable other) noexcept {
    std::swap(state_, other.state_);
    index_ = other.index_;
    return *this;
  }
  ~Waitable() {
    if (state_ != nullptr) state_->release();
  }

  bool ready() const noexcept { return state_ == nullptr || state_->is_ready(); }
  bool has_error() const noexcept { return state_ != nullptr && state_->has_error(); }
  std::size_t index() const noexcept { return index_; }
  // True if this waits for `future`'s task.
  template <class T>
  bool is(const Future<T>& future) const noexcept {
    return state_ != nullptr && state_ == future.state_ptr();
  }

  detail::StateBase* state_ptr() const noexcept { return state_; }
  void set_index(std::size_t index) noexcept { index_ = index; }

 private:
  detail::StateBase* state_ = nullptr;
  std::size_t index_ = 0;
};

namespace detail {

template <class T>
StateBase* state_of(const Future<T>& future) {
  if (!future.valid()) throw EmptyFuture();
  return future.state_ptr();
}
inline StateBase* state_of(const Waitable& waitable) noexcept { return waitable.state_ptr(); }
template <class T>
StateBase* state_of(const ObjectRef<T>&) noexcept {
  return nullptr;
}

template <class Item>
std::vector<StateBase*> states_of(const std::vector<Item>& items) {
  std::vector<StateBase*> states;
  states.reserve(items.size());
  for (const auto& item : items) states.push_back(state_of(item));
  return states;
}

inline std::size_t count_ready(const std::vector<StateBase*>& states) {
  return static_cast<std::size_t>(
      std::count_if(states.begin(), states.end(), [](StateBase* s) { return s == nullptr || s->is_ready(); }));
}

template <class Item>
using wait_result_t = WaitResult<typename wait_value<Item>::type>;

template <class Item>
wait_result_t<Item> split_ready(std::vector<Item>&& items, std::size_t num_returns) {
  wait_result_t<Item> result;
  result.ready.reserve(std::min(num_returns, items.size()));
  for (auto& item : items) {
    StateBase* state = state_of(item);
    if (result.ready.size() < num_returns && (state == nullptr || state->is_ready())) {
      result.ready.push_back(std::move(item));
    } else {
      result.pending.push_back(std::move(item));
    }
  }
  return result;
}

inline void number(std::vector<Waitable>& items) {
  for (std::size_t i = 0; i < items.size(); ++i) items[i].set_index(i);
}
template <class T>
void number(std::vector<Future<T>>&) {}

struct BlockingWaitGroup : WaitGroup {
  Signal signal;
  explicit BlockingWaitGroup(std::size_t needed)
      : WaitGroup(needed, [](WaitGroup* self) noexcept { static_cast<BlockingWaitGroup*>(self)->signal.notify(); }) {}
};

// Blocks until `num_returns` of `states` are complete or the deadline.
inline void block_until_enough(const std::vector<StateBase*>& states, std::size_t num_returns, const Deadline& deadline) {
  if (count_ready(states) >= num_returns) return;
  BlockingWaitGroup group(num_returns);
  group.watch(states);
  try {
    block_until(group.signal, states, deadline);
  } catch (...) {
    group.unwatch();
    throw;
  }
  group.unwatch();
}

template <class Item>
wait_result_t<Item> wait_for(std::vector<Item> items, std::size_t num_returns, std::optional<std::chrono::nanoseconds> timeout) {
  const std::vector<StateBase*> states = states_of(items);
  number(items);
  num_returns = std::min(num_returns, items.size());
  const Deadline deadline = timeout ? Deadline(Clock::now() + *timeout) : std::nullopt;
  block_until_enough(states, num_returns, deadline);
  return split_ready(std::move(items), num_returns);
}

// co_await ctx.wait_async(items, n, timeout)
template <class Item>
class WaitAwaiter : public WaitGroupAwaiter {
 public:
  WaitAwaiter(std::vector<Item> items, std::size_t num_returns, std::optional<std::chrono::nanoseconds> timeout,
              TimerService* timers)
      : WaitGroupAwaiter(states_of(items), num_returns, timeout, timers),
        items_(std::move(items)),
        num_returns_(std::min(num_returns, items_.size())) {
    number(items_);
  }
  wait_result_t<Item> await_resume() {
    end_wait();
    return split_ready(std::move(items_), num_returns_);
  }

 private:
  std::vector<Item> items_;
  std::size_t num_returns_;
};

template <class T>
using when_value_t = std::conditional_t<std::is_void_v<T>, Unit, T>;

template <class T>
when_value_t<T> value_of(const Future<T>& future) {
  if constexpr (std::is_void_v<T>) {
    future.get();
    return {};
  } else {
    return future.get();
  }
}

// co_await when_all(vector of futures)
template <class T>
class WhenAllVector : public WaitGroupAwaiter {
 public:
  explicit WhenAllVector(std::vector<Future<T>> futures)
      : WaitGroupAwaiter(states_of(futures), futures.size(), std::nullopt, nullptr), futures_(std::move(futures)) {}
  auto await_resume() {
    end_wait();
    if constexpr (std::is_void_v<T>) {
      for (const auto& future : futures_) future.get();
    } else {
      std::vector<T> values;
      values.reserve(futures_.size());
      for (const auto& future : futures_) values.push_back(future.get());
      return values;
    }
  }

 private:
  std::vector<Future<T>> futures_;
};

// co_await when_all(a, b, ...): a tuple of their values (Unit for void).
template <class... T>
class WhenAllOf : public WaitGroupAwaiter {
 public:
  explicit WhenAllOf(Future<T>... futures)
      : WaitGroupAwaiter({state_of(futures)...}, sizeof...(T), std::nullopt, nullptr), futures_(std::move(futures)...) {}
  std::tuple<when_value_t<T>...> await_resume() {
    end_wait();
    return std::apply([](const auto&... f) { return std::tuple<when_value_t<T>...>(value_of(f)...); }, futures_);
  }

 private:
  std::tuple<Future<T>...> futures_;
};

// co_await when_any(...): the index of a ready one (the lowest, if several).
class WhenAny : public WaitGroupAwaiter {
 public:
  template <class Item>
  explicit WhenAny(const std::vector<Item>& items) : WaitGroupAwaiter(states_of(items), 1, std::nullopt, nullptr) {
    if (items.empty()) throw InvalidOptions("when_any needs at least one future");
  }
  std::size_t await_resume() {
    end_wait();
    for (std::size_t i = 0; i < states_.size(); ++i) {
      if (states_[i] == nullptr || states_[i]->is_ready()) return i;
    }
    return 0;  // unreachable: the group fired because one was ready
  }
};

}  // namespace detail

// Blocks until `num_returns` of `futures` are ready or `timeout` passes.
template <class T>
WaitResult<T> wait(std::vector<Future<T>> futures, std::size_t num_returns = 1,
                           std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
  return detail::wait_for(std::move(futures), num_returns, timeout);
}
// The same over futures of different types and object refs.
inline WaitResult<Waitable> wait(std::vector<Waitable> items, std::size_t num_returns = 1,
                                 std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
  return detail::wait_for(std::move(items), num_returns, timeout);
}

template <class T>
detail::WhenAllVector<T> when_all(std::vector<Future<T>> futures) {
  return detail::WhenAllVector<T>(std::move(futures));
}
template <class... T>
detail::WhenAllOf<T...> when_all(Future<T>... futures) {
  return detail::WhenAllOf<T...>(std::move(futures)...);
}
template <class T>
detail::WhenAny when_any(const std::vector<Future<T>>& futures) {
  return detail::WhenAny(futures);
}
inline detail::WhenAny when_any(const std::vector<Waitable>& items) { return detail::WhenAny(items); }
template <class... T>
detail::WhenAny when_any(const Future<T>&... futures) {
  return detail::WhenAny(std::vector<Waitable>{Waitable(futures)...});
}

}  // namespace fray
