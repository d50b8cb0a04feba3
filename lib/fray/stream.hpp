// Streaming tasks. A function returning Generator<T> `co_yield`s items;
// run() returns a Stream<T> that hands them to the caller as they are
// produced. The buffer between them is bounded: when it is full the producer
// is suspended until the consumer takes an item, so a slow consumer slows
// the producer instead of growing memory (Ray's streaming generators).
// A streaming task cannot be retried (items already handed out would come
// again): max_retries on one makes its stream fail with InvalidOptions.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "fray/detail/blocking.hpp"
#include "fray/detail/shared_state.hpp"
#include "fray/detail/stream_channel.hpp"
#include "fray/detail/suspension.hpp"
#include "fray/detail/timer_service.hpp"
#include "fray/future.hpp"
#include "fray/task.hpp"

namespace fray {

template <class T>
class Generator;

namespace detail {

template <class T>
class GeneratorPromise : public TaskPromiseBase {
 public:
  Generator<T> get_return_object() noexcept;
  void return_void() noexcept {}
  void take_result() {
    if (error()) std::rethrow_exception(error());
  }
  void set_channel(StreamChannel<T>* channel) noexcept { channel_ = channel; }

  // co_yield: hands the item over, suspending while the buffer is full.
  class YieldAwaiter : Suspension {
   public:
    YieldAwaiter(GeneratorPromise& promise, T&& item) : promise_(promise), item_(std::move(item)) {}
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> handle) noexcept {
      prepare(handle);
      on_cancel = [](CancelHook* self) noexcept {
        auto* awaiter = static_cast<YieldAwaiter*>(self);
        if (awaiter->promise_.channel_->withdraw_producer(&awaiter->resumption_)) awaiter->wake();
      };
      // The consumer is woken after the task's lock is released (it may
      // cancel this task), and only when this frame did not suspend.
      Waiter* consumer = nullptr;
      const bool suspended = suspend(
          [this, &consumer]() noexcept { return !promise_.channel_->push_or_wait(item_, &resumption_, consumer); },
          /*lends=*/false);
      if (consumer != nullptr) consumer->on_ready(consumer);
      return suspended;
    }
    void await_resume() {
      resume_checked();
      // Woken because the consumer made room; only this producer fills it.
      if (item_) {
        Waiter* consumer = nullptr;
        promise_.channel_->push_or_wait(item_, &resumption_, consumer);
        if (consumer != nullptr) consumer->on_ready(consumer);
      }
    }

   private:
    GeneratorPromise& promise_;
    std::optional<T> item_;
  };
  YieldAwaiter yield_value(T item) { return YieldAwaiter(*this, std::move(item)); }

 private:
  StreamChannel<T>* channel_ = nullptr;
};

}  // namespace detail

// The coroutine type of a streaming task: `co_yield` items, `co_await`
// futures and tasks as in Task<T>.
template <class T>
class [[nodiscard]] Generator {
 public:
  using promise_type = detail::GeneratorPromise<T>;
  using value_type = T;
  using Handle = std::coroutine_handle<promise_type>;

  explicit Generator(Handle handle) noexcept : handle_(handle) {}
  Generator(Generator&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Generator& operator=(Generator&&) = delete;
  ~Generator() {
    if (handle_) handle_.destroy();
  }
  Handle release() noexcept { return std::exchange(handle_, nullptr); }

 private:
  Handle handle_;
};

template <class T>
Generator<T> detail::GeneratorPromise<T>::get_return_object() noexcept {
  return Generator<T>(std::coroutine_handle<GeneratorPromise<T>>::from_promise(*this));
}

// The consumer's end of a streaming task.
template <class T>
class Stream {
  using Channel = detail::StreamChannel<T>;
  using Take = typename Channel::Take;

 public:
  Stream(std::shared_ptr<Channel> channel, Future<void> producer, detail::TimerService* timers) noexcept
      : channel_(std::move(channel)), producer_(std::move(producer)), timers_(timers) {}
  Stream(Stream&&) noexcept = default;
  // The stream assigned over is dropped: its producer stops as in ~Stream.
  Stream& operator=(Stream&& other) noexcept {
    if (this != &other) {
      stop_unread_producer();
      channel_ = std::move(other.channel_);
      producer_ = std::move(other.producer_);
      timers_ = other.timers_;
    }
    return *this;
  }
  ~Stream() { stop_unread_producer(); }

  // co_await stream.next(): the next item, or nullopt when the producer
  // finished; rethrows the producer's exception after the items before it.
  // With a timeout: GetTimeout if no item came in time (the stream goes on).
  class NextAwaiter : detail::Waiter, detail::Suspension {
   public:
    NextAwaiter(Stream& stream, std::optional<std::chrono::nanoseconds> timeout) noexcept
        : channel_(stream.channel_), timers_(stream.timers_), timeout_(timeout), producer_(stream.producer_.state_ptr()) {}
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> handle) {
      prepare(handle);
      waits_on = std::span<detail::StateBase* const>(&producer_, 1);
      on_ready = [](Waiter* self) noexcept { static_cast<NextAwaiter*>(self)->wake(); };
      on_cancel = [](CancelHook* self) noexcept {
        auto* awaiter = static_cast<NextAwaiter*>(self);
        if (awaiter->channel_->withdraw_consumer(awaiter)) awaiter->wake();
      };
      if (timeout_ && timers_ != nullptr) watch_ = std::make_shared<TimeoutWatch>(channel_, static_cast<detail::Waiter*>(this));
      // The producer is resumed after the task's lock is released, and only
      // when this frame did not suspend.
      detail::Resumption* producer = nullptr;
      auto enqueue = [this, &producer]() noexcept {
        try {
          outcome_ = channel_->take_or_wait(item_, this, producer);
        } catch (...) {
          error_ = std::current_exception();
          return false;
        }
        if (outcome_ != Take::empty) return false;
        if (watch_) arm_timeout();
        return true;  // registered: wait for an item
      };
      const bool suspended = suspend(enqueue, /*lends=*/true);
      if (producer != nullptr) producer->schedule();
      return suspended;
    }
    std::optional<T> await_resume() {
      if (watch_) watch_->disarm();
      resume_checked();
      if (error_) std::rethrow_exception(error_);
      if (watch_ && watch_->timed_out) throw GetTimeout("no stream item came before the timeout");
      // Woken by a push or by the end of the stream: one of them is there.
      if (outcome_ == Take::empty) channel_->try_take(item_, nullptr);
      return std::move(item_);
    }

   private:
    // Outlives the awaiter: the timer's callback may run after it resumed.
    struct TimeoutWatch {
      TimeoutWatch(std::shared_ptr<Channel> c, detail::Waiter* w) : channel(std::move(c)), waiter(w) {}
      std::shared_ptr<Channel> channel;
      detail::Waiter* waiter;
      std::mutex mutex;
      bool armed = true;   // false once the awaiter resumed
      bool timed_out = false;
      std::shared_ptr<detail::TimerService::Timer> timer;
      void disarm() {
        std::shared_ptr<detail::TimerService::Timer> cancel_me;
        {
          std::lock_guard guard(mutex);
          armed = false;
          cancel_me = std::move(timer);
        }
        if (cancel_me) cancel_me->cancel();
      }
    };
    void arm_timeout() noexcept {
      try {
        auto watch = watch_;
        auto* awaiter = this;
        auto timer = timers_->start_timer(detail::Clock::now() + *timeout_, [watch, awaiter](bool expired) {
          if (!expired) return;
          std::unique_lock guard(watch->mutex);
          // Only the awaiter this watch belongs to, and only if no item woke it.
          if (!watch->armed || !watch->channel->withdraw_consumer(watch->waiter)) return;
          watch->timed_out = true;
          guard.unlock();
          awaiter->wake();
        });
        std::lock_guard guard(watch_->mutex);
        if (watch_->armed) watch_->timer = std::move(timer);
      } catch (...) {
        // No timer (out of memory): the wait goes on without a timeout.
      }
    }
    std::shared_ptr<Channel> channel_;
    detail::TimerService* timers_;
    std::optional<std::chrono::nanoseconds> timeout_;
    std::shared_ptr<TimeoutWatch> watch_;
    detail::StateBase* producer_;  // what this suspension waits on
    Take outcome_ = Take::empty;
    std::optional<T> item_;
    std::exception_ptr error_;
  };
  NextAwaiter next() { return NextAwaiter(*this, std::nullopt); }
  template <class Rep, class Period>
  NextAwaiter next(std::chrono::duration<Rep, Period> timeout) {
    return NextAwaiter(*this, std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
  }

  // From plain code: blocks for the next item; nullopt at the end.
  std::optional<T> next_blocking() { return next_until(std::nullopt); }
  // GetTimeout if no item came within `timeout` (the stream goes on).
  template <class Rep, class Period>
  std::optional<T> next_blocking(std::chrono::duration<Rep, Period> timeout) {
    return next_until(detail::Clock::now() + timeout);
  }

  // Stops the producer at its next co_yield or co_await.
  void cancel() noexcept {
    if (producer_.cancel()) channel_->close(std::make_exception_ptr(TaskCancelled()));
  }
  // Completes when the producer finishes.
  const Future<void>& producer() const noexcept { return producer_; }

 private:
  std::optional<T> next_until(const detail::Deadline& deadline) {
    std::optional<T> item;
    for (;;) {
      detail::SignalWaiter waiter;
      if (channel_->try_take(item, &waiter) != Take::empty) return item;
      detail::StateBase* const producer[] = {producer_.state_ptr()};
      bool set;
      try {
        set = detail::block_until(waiter.signal, producer, deadline);
      } catch (...) {
        if (!channel_->withdraw_consumer(&waiter)) waiter.signal.wait_until(std::nullopt);
        throw;
      }
      if (set) continue;
      if (channel_->withdraw_consumer(&waiter)) throw GetTimeout("no stream item came before the timeout");
      // An item or the end arrived as the time ran out: it is there now.
      waiter.signal.wait_until(std::nullopt);
      waiter.signal.settle();
    }
  }

  // Nobody will read any more: stop the producer.
  void stop_unread_producer() noexcept {
    if (channel_ && !producer_.ready()) cancel();
  }

  std::shared_ptr<Channel> channel_;
  Future<void> producer_;
  detail::TimerService* timers_ = nullptr;
};

}  // namespace fray
