// How a task's arguments reach its function, as in Ray: a future among them
// is waited for and replaced by (a const reference to) its value, an object
// ref by the object itself; a Future<void> is waited for and passes nothing
// (it only orders the task after another). A function that declares a
// Future parameter asks for the future itself: then nothing is resolved.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "fray/detail/stream_channel.hpp"
#include "fray/future.hpp"
#include "fray/object_ref.hpp"
#include "fray/stream.hpp"
#include "fray/task.hpp"

namespace fray::detail {

template <class T>
struct is_future : std::false_type {};
template <class T>
struct is_future<Future<T>> : std::true_type {};
template <class T>
struct is_void_future : std::false_type {};
template <>
struct is_void_future<Future<void>> : std::true_type {};
template <class T>
struct is_object_ref : std::false_type {};
template <class T>
struct is_object_ref<ObjectRef<T>> : std::true_type {};
template <class T>
struct is_generator : std::false_type {};
template <class T>
struct is_generator<Generator<T>> : std::true_type {};

// What the function receives for an argument of type A.
template <class A>
struct resolved {
  using type = A&&;
};
template <class U>
struct resolved<Future<U>> {
  using type = const U&;
};
template <class U>
struct resolved<ObjectRef<U>> {
  using type = const U&;
};
template <class A>
using resolved_t = typename resolved<A>::type;

// The positions of the arguments that reach the function once resolved
// (all but the Future<void>s).
template <class... Args>
constexpr std::size_t kept_count = (std::size_t{0} + ... + (is_void_future<Args>::value ? 0 : 1));

template <class... Args>
constexpr std::array<std::size_t, kept_count<Args...>> kept_positions() {
  constexpr bool dropped[] = {is_void_future<Args>::value..., false};
  std::array<std::size_t, kept_count<Args...>> positions{};
  std::size_t next = 0;
  for (std::size_t i = 0; i < sizeof...(Args); ++i) {
    if (!dropped[i]) positions[next++] = i;
  }
  return positions;
}

template <class... Args, std::size_t... J>
constexpr auto kept_sequence_from(std::index_sequence<J...>) {
  constexpr auto positions = kept_positions<Args...>();
  return std::index_sequence<positions[J]...>{};
}
template <class... Args>
using kept_sequence = decltype(kept_sequence_from<Args...>(std::make_index_sequence<kept_count<Args...>>{}));

// `Prefix` are arguments passed first as they are (an actor's object).
template <class F, class Prefix, class Tuple, class Seq>
struct invocable_resolved;
template <class F, class... Prefix, class... Args, std::size_t... I>
struct invocable_resolved<F, std::tuple<Prefix...>, std::tuple<Args...>, std::index_sequence<I...>> {
  using Tuple = std::tuple<Args...>;
  static constexpr bool value = std::is_invocable_v<F&, Prefix..., resolved_t<std::tuple_element_t<I, Tuple>>...>;
  using result = std::invoke_result<F&, Prefix..., resolved_t<std::tuple_element_t<I, Tuple>>...>;
};

template <class F, class Prefix, class... Args>
inline constexpr bool resolves_arguments_after =
    invocable_resolved<F, Prefix, std::tuple<Args...>, kept_sequence<Args...>>::value;
template <class F, class... Args>
inline constexpr bool resolves_arguments = resolves_arguments_after<F, std::tuple<>, Args...>;

template <class F, class Prefix, class... Args>
struct call_result_after {
  using type = typename invocable_resolved<F, Prefix, std::tuple<Args...>, kept_sequence<Args...>>::result::type;
};
template <class F, class... Prefix, class... Args>
  requires(!resolves_arguments_after<F, std::tuple<Prefix...>, Args...>)
struct call_result_after<F, std::tuple<Prefix...>, Args...> {
  static_assert(std::is_invocable_v<F&, Prefix..., Args&&...>,
                "fn cannot be called with these arguments (futures and object refs among them are passed "
                "as their values, a Future<void> passes nothing, unless fn takes the Future itself)");
  using type = std::invoke_result_t<F&, Prefix..., Args&&...>;
};
template <class F, class... Args>
using call_result_t = typename call_result_after<F, std::tuple<>, Args...>::type;

// The futures a task waits for before it starts.
template <bool Resolve, class... Args>
constexpr std::size_t dependency_count() {
  if constexpr (Resolve) {
    return (std::size_t{0} + ... + (is_future<Args>::value ? 1 : 0));
  } else {
    return 0;
  }
}

template <class... Args>
constexpr bool all_copyable() {
  return (true && ... && (is_future<Args>::value || is_object_ref<Args>::value || std::is_copy_constructible_v<Args>));
}

template <bool Resolve, class A>
decltype(auto) pass_argument(A& argument, bool last_attempt) {
  if constexpr (Resolve && is_future<A>::value) {
    return static_cast<const typename A::value_type&>(argument.state_ptr()->value());
  } else if constexpr (Resolve && is_object_ref<A>::value) {
    return argument.get();
  } else if constexpr (std::is_copy_constructible_v<A>) {
    // A retry needs the arguments again: hand out copies until the last try.
    return last_attempt ? A(std::move(argument)) : A(argument);
  } else {
    return A(std::move(argument));
  }
}

// Calls `fn(prefix..., args...)` with the arguments resolved (or as they
// are, when the function takes futures itself).
template <bool Resolve, class F, class... Args, class... Prefix>
decltype(auto) invoke_with(F& fn, std::tuple<Args...>& args, bool last_attempt, Prefix&&... prefix) {
  if constexpr (Resolve) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) -> decltype(auto) {
      return std::invoke(fn, std::forward<Prefix>(prefix)..., pass_argument<true>(std::get<I>(args), last_attempt)...);
    }(kept_sequence<Args...>{});
  } else {
    return std::apply(
        [&](auto&... arg) -> decltype(auto) {
          return std::invoke(fn, std::forward<Prefix>(prefix)..., pass_argument<false>(arg, last_attempt)...);
        },
        args);
  }
}

// What a task returns, seen through its kind: plain value, Task<T>, Generator<T>.
template <class R>
struct task_kind {
  using value_type = R;
  using promise_type = void;
  static constexpr bool coroutine = false;
  static constexpr bool generator = false;
};
template <class T>
struct task_kind<Task<T>> {
  using value_type = T;
  using promise_type = typename Task<T>::promise_type;
  static constexpr bool coroutine = true;
  static constexpr bool generator = false;
};
template <class T>
struct task_kind<Generator<T>> {
  using value_type = void;  // the producer's own completion
  using item_type = T;
  using promise_type = typename Generator<T>::promise_type;
  static constexpr bool coroutine = true;
  static constexpr bool generator = true;
};

// What a streaming task writes into (nothing for the other kinds).
template <class R>
struct channel_of {
  using type = Unit;
};
template <class T>
struct channel_of<Generator<T>> {
  using type = std::shared_ptr<StreamChannel<T>>;
};

}  // namespace fray::detail
