// Streaming tasks: items as produced, bounded buffer, errors, cancellation.
#include "test_support.hpp"

#include <set>
#include <string>
#include <vector>

using namespace fray_test;
using fray::ContextKind;
using fray::TaskOptions;

namespace {
struct Progress {
  std::atomic<int> produced{0};
  std::atomic<int> consumed{0};
  std::atomic<int> max_ahead{0};
};

fray::Generator<int> count_to(int n, Progress* progress) {
  for (int i = 0; i < n; ++i) {
    co_yield i;
    progress->produced.fetch_add(1);
    int ahead = progress->produced.load() - progress->consumed.load();
    int seen = progress->max_ahead.load();
    while (ahead > seen && !progress->max_ahead.compare_exchange_weak(seen, ahead)) {
    }
  }
}

fray::Generator<int> fail_after(int n) {
  for (int i = 0; i < n; ++i) co_yield i;
  throw CustomError("producer broke", n);
}

fray::Generator<int> forever(std::atomic<bool>* ended) {
  struct Flag {
    std::atomic<bool>* flag;
    ~Flag() { flag->store(true); }
  } flag{ended};
  for (int i = 0;; ++i) co_yield i;
}

fray::Generator<int> count_from(int start) {
  for (int i = start; i < start + 3; ++i) co_yield i;
}

// Yields 1 and 2, then fails on its first attempt; yields 1, 2, 3 on later ones.
fray::Generator<int> fails_first_time(std::atomic<int>* attempts) {
  const bool first = attempts->fetch_add(1) == 0;
  co_yield 1;
  co_yield 2;
  if (first) throw CustomError("first attempt broke after two items", 2);
  co_yield 3;
}

fray::Task<int> sum_stream(int n) {
  Progress progress;
  auto stream = fray::current_context().run(count_to, n, &progress);
  int sum = 0;
  while (auto item = co_await stream.next()) sum += *item;
  co_return sum;
}
}  // namespace

TEST_CASE("a streaming task hands items over as they are produced") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    Progress progress;
    auto stream = runtime.context().run_stream(TaskOptions{}, 2, count_to, 1000, &progress);
    auto first = stream.next_blocking();
    REQUIRE(first.has_value());
    CHECK(*first == 0);
    // The first item arrived long before the producer could have finished.
    CHECK(progress.produced.load() < 1000);
    int expected = 1;
    while (auto item = stream.next_blocking()) CHECK(*item == expected++);
    CHECK(expected == 1000);
    CHECK_NOTHROW(stream.producer().get());
  });
}

TEST_CASE("a slow consumer slows the producer: it never gets more than the buffer ahead") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    Progress progress;
    constexpr int kBuffer = 4;
    auto stream = runtime.context().run_stream(TaskOptions{}, kBuffer, count_to, 200, &progress);
    int received = 0;
    while (auto item = stream.next_blocking()) {
      progress.consumed.fetch_add(1);
      if (received++ % 20 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    CHECK(received == 200);
    // produced counts after co_yield returns, consumed after next returns.
    CHECK(progress.max_ahead.load() <= kBuffer + 1);
  });
}

TEST_CASE("the producer's exception reaches the consumer after the items before it") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    auto stream = runtime.context().run(fail_after, 3);
    CHECK(*stream.next_blocking() == 0);
    CHECK(*stream.next_blocking() == 1);
    CHECK(*stream.next_blocking() == 2);
    CHECK_THROWS_AS(stream.next_blocking(), CustomError);
    CHECK_THROWS_AS(stream.producer().get(), CustomError);
  });
}

TEST_CASE("a coroutine task consumes a stream with co_await next") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    CHECK(runtime.context().run(sum_stream, 100).get() == 4950);
  });
}

TEST_CASE("cancelling a stream stops its producer at its next co_yield") {
  for_each_context([](ContextKind kind) {
    fray::Runtime runtime(options_for(kind));
    std::atomic<bool> ended{false};
    auto stream = runtime.context().run(forever, &ended);
    CHECK(*stream.next_blocking() == 0);
    stream.cancel();
    // Items already buffered may still come; then the cancellation.
    CHECK_THROWS_AS(
        {
          while (stream.next_blocking()) {
          }
        },
        fray::TaskCancelled);
    CHECK_THROWS_AS(stream.producer().get(), fray::TaskCancelled);
    CHECK(ended.load());
  });
}

TEST_CASE("dropping a stream stops its producer") {
  fray::Runtime runtime(options_for(ContextKind::threads));
  std::atomic<bool> ended{false};
  fray::Future<void> producer;
  {
    auto stream = runtime.context().run(forever, &ended);
    CHECK(*stream.next_blocking() == 0);
    producer = stream.producer();
  }
  CHECK_THROWS_AS(producer.get(), fray::TaskCancelled);
  CHECK(ended.load());
}

TEST_CASE("a stream cancelled before its producer starts ends at once") {
  fray::Runtime runtime(options_for(ContextKind::sync));
  std::atomic<bool> ended{false};
  auto stream = runtime.context().run(forever, &ended);
  stream.cancel();
  CHECK_THROWS_AS(stream.next_blocking(), fray::TaskCancelled);
  CHECK_FALSE(ended.load());  // never started
}

TEST_CASE("a streaming task whose argument future failed hands that error to its consumer") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog(std::string("next_blocking on a stream whose argument failed (") + name_of(kind) + ")",
                      std::chrono::seconds(20));
    fray::Runtime runtime(options_for(kind));
    auto& ctx = runtime.context();
    auto bad = ctx.run([]() -> int { throw CustomError("upstream broke", 4); });
    auto stream = ctx.run(count_from, bad);
    CHECK_THROWS_AS(stream.next_blocking(), CustomError);
    CHECK_THROWS_AS(stream.producer().get(), CustomError);
  });
}

TEST_CASE("a streaming task with max_retries is refused with InvalidOptions and its consumer never receives an item twice") {
  for_each_context([](ContextKind kind) {
    Watchdog watchdog(std::string("consuming a retried stream (") + name_of(kind) + ")", std::chrono::seconds(20));
    fray::Runtime runtime(options_for(kind));
    std::atomic<int> attempts{0};
    auto stream = runtime.context().run(TaskOptions{}.with_max_retries(2), fails_first_time, &attempts);
    std::vector<int> received;
    std::string ended_with = "the end of the stream";
    bool invalid_options = false;
    try {
      while (auto item = stream.next_blocking()) received.push_back(*item);
    } catch (const fray::InvalidOptions&) {
      invalid_options = true;
      ended_with = "InvalidOptions";
    } catch (const std::exception& error) {
      ended_with = std::string("another error: ") + error.what();
    }
    std::string items;
    for (int item : received) items += std::to_string(item) + " ";
    INFO("received: ", items, "then ", ended_with);
    CHECK(std::set<int>(received.begin(), received.end()).size() == received.size());
    CHECK(invalid_options);
  });
}

TEST_CASE("assigning a new stream over a live one stops the old producer, as dropping it does") {
  using namespace std::chrono_literals;
  fray::Runtime runtime(options_for(ContextKind::threads, 2));
  auto& ctx = runtime.context();
  std::atomic<bool> first_ended{false};
  std::atomic<bool> second_ended{false};
  auto stream = ctx.run(forever, &first_ended);
  CHECK(stream.next_blocking() == 0);
  fray::Future<void> old_producer = stream.producer();
  stream = ctx.run(forever, &second_ended);
  CHECK_THROWS_AS(old_producer.get(10s), fray::TaskCancelled);  // GetTimeout if it was left running
  CHECK(first_ended.load());
  CHECK_FALSE(second_ended.load());
  CHECK(stream.next_blocking() == 0);
}
