// Streaming tasks. A function returning Generator<T> `co_yield`s items;
// run() returns a Stream<T> that hands them to the caller as they are
// produced. The buffer between them is bounded: when it is full the producer
// is suspended until the consumer takes an item, so a slow consumer slows
// the producer instead of growing memory (Ray's streaming generators).
#pragma once

#include <coroutine>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "fray/detail/blocking.hpp"
#include "fray/detail/frame_context.hpp"
#include "fray/detail/shared_state.hpp"
#include "fray/future.hpp"
#include "fray/task.hpp"

namespace fray {

template <class T>
class Generator;

namespace detail {

// The buffer shared by one producer coroutine and one consumer.
template <class T>
class StreamChannel {
 public:
  explicit StreamChannel(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // Producer side ----------------------------------------------------------
  // Pushes if there is room; otherwise records `producer` to be resumed
  // when there is (returns false).
  bool try_push(std::optional<T>& item, Resumption* producer) {
    Waiter* consumer = nullptr;
    const bool pushed = push_or_wait(item, producer, consumer);
    if (consumer != nullptr) consumer->on_ready(consumer);
    return pushed;
  }
  // As try_push, but the consumer to wake, if any, is left in `to_wake` for
  // the caller to wake once it holds no lock.
  bool push_or_wait(std::optional<T>& item, Resumption* producer, Waiter*& to_wake) {
    std::lock_guard guard(mutex_);
    if (buffer_.size() >= capacity_) {
      waiting_producer_ = producer;
      return false;
    }
    buffer_.push_back(std::move(*item));
    item.reset();
    to_wake = std::exchange(waiting_consumer_, nullptr);
    return true;
  }
  // The producer gives up waiting (it was cancelled). True if it was still
  // waiting, so nobody else will resume it.
  bool withdraw_producer(Resumption* producer) {
    std::lock_guard guard(mutex_);
    if (waiting_producer_ != producer) return false;
    waiting_producer_ = nullptr;
    return true;
  }
  void close(std::exception_ptr error) {
    Waiter* consumer = nullptr;
    {
      std::lock_guard guard(mutex_);
      closed_ = true;
      error_ = std::move(error);
      consumer = std::exchange(waiting_consumer_, nullptr);
    }
    if (consumer != nullptr) consumer->on_ready(consumer);
  }

  // Consumer side ----------------------------------------------------------
  enum class Take { item, end, empty };
  // Takes the next item, or says the stream ended (rethrowing the
  // producer's error), or registers `consumer` to be told when to retry.
  Take try_take(std::optional<T>& out, Waiter* consumer) {
    Resumption* producer = nullptr;
    const Take taken = take_or_wait(out, consumer, producer);
    if (producer != nullptr) producer->schedule();
    return taken;
  }
  // As try_take, but the producer to resume, if any, is left in `to_wake`
  // for the caller to resume once it holds no lock.
  Take take_or_wait(std::optional<T>& out, Waiter* consumer, Resumption*& to_wake) {
    std::lock_guard guard(mutex_);
    if (!buffer_.empty()) {
      out.emplace(std::move(buffer_.front()));
      buffer_.pop_front();
      to_wake = std::exchange(waiting_producer_, nullptr);
      return Take::item;
    }
    if (closed_) {
      if (error_) std::rethrow_exception(error_);
      return Take::end;
    }
    waiting_consumer_ = consumer;
    return Take::empty;
  }
  // True if `consumer` was still registered (so it will not be called).
  bool withdraw_consumer(Waiter* consumer) {
    std::lock_guard guard(mutex_);
    if (waiting_consumer_ != consumer) return false;
    waiting_consumer_ = nullptr;
    return true;
  }

 private:
  std::mutex mutex_;
  std::deque<T> buffer_;
  std::size_t capacity_;
  bool closed_ = false;
  std::exception_ptr error_;
  Waiter* waiting_consumer_ = nullptr;
  Resumption* waiting_producer_ = nullptr;
};

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
  class YieldAwaiter : CancelHook {
   public:
    YieldAwaiter(GeneratorPromise& promise, T&& item) : promise_(promise), item_(std::move(item)) {}
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> handle) noexcept {
      const FrameContext& frame = promise_.frame_context();
      resumption_.handle = handle;
      resumption_.executor = frame.executor;
      on_cancel = [](CancelHook* self) noexcept { static_cast<YieldAwaiter*>(self)->interrupt(); };
      // The consumer is woken after the task's lock is released (it may
      // cancel this task), and only when this frame did not suspend.
      Waiter* consumer = nullptr;
      const bool suspended = frame.suspend_on(
          this, [this, &consumer]() noexcept { return !promise_.channel_->push_or_wait(item_, &resumption_, consumer); });
      if (consumer != nullptr) consumer->on_ready(consumer);
      return suspended;
    }
    void await_resume() {
      const FrameContext& frame = promise_.frame_context();
      frame.end_suspend();
      frame.throw_if_cancelled();
      // Woken because the consumer made room; only this producer fills it.
      if (item_) promise_.channel_->try_push(item_, &resumption_);
    }

   private:
    void interrupt() noexcept {
      if (promise_.channel_->withdraw_producer(&resumption_)) resumption_.schedule();
    }
    GeneratorPromise& promise_;
    std::optional<T> item_;
    Resumption resumption_;
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
 public:
  Stream(std::shared_ptr<detail::StreamChannel<T>> channel, Future<void> producer) noexcept
      : channel_(std::move(channel)), producer_(std::move(producer)) {}
  Stream(Stream&&) noexcept = default;
  Stream& operator=(Stream&&) noexcept = default;
  // Nobody will read any more: stop the producer.
  ~Stream() {
    if (channel_ && !producer_.ready()) cancel();
  }

  // co_await stream.next(): the next item, or nullopt when the producer
  // finished; rethrows the producer's exception after the items before it.
  class NextAwaiter : detail::Waiter, detail::CancelHook {
   public:
    explicit NextAwaiter(detail::StreamChannel<T>& channel) noexcept : channel_(channel) {}
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> handle) {
      resumption_.handle = handle;
      frame_ = detail::frame_context_of(handle);
      if (frame_ != nullptr) resumption_.executor = frame_->executor;
      on_ready = [](Waiter* self) noexcept { static_cast<NextAwaiter*>(self)->resumption_.schedule(); };
      on_cancel = [](CancelHook* self) noexcept { static_cast<NextAwaiter*>(self)->interrupt(); };
      // The producer is resumed after the task's lock is released, and only
      // when this frame did not suspend.
      detail::Resumption* producer = nullptr;
      auto enqueue = [this, &producer]() noexcept {
        try {
          outcome_ = channel_.take_or_wait(item_, this, producer);
        } catch (...) {
          error_ = std::current_exception();
          return false;
        }
        return outcome_ == Take::empty;  // registered: wait for an item
      };
      const bool suspended = frame_ != nullptr ? frame_->suspend_on(this, enqueue) : enqueue();
      if (producer != nullptr) producer->schedule();
      return suspended;
    }
    std::optional<T> await_resume() {
      if (frame_ != nullptr) {
        frame_->end_suspend();
        frame_->throw_if_cancelled();
      }
      if (error_) std::rethrow_exception(error_);
      // Woken by a push or by the end of the stream: one of them is there.
      if (outcome_ == Take::empty) channel_.try_take(item_, nullptr);
      return std::move(item_);
    }

   private:
    using Take = typename detail::StreamChannel<T>::Take;
    void interrupt() noexcept {
      if (channel_.withdraw_consumer(this) && resumption_.executor != nullptr) {
        resumption_.executor->post(&resumption_);
      }
    }
    detail::StreamChannel<T>& channel_;
    detail::FrameContext* frame_ = nullptr;
    detail::Resumption resumption_;
    Take outcome_ = Take::empty;
    std::optional<T> item_;
    std::exception_ptr error_;
  };
  NextAwaiter next() { return NextAwaiter(*channel_); }

  // From plain code: blocks for the next item; nullopt at the end.
  std::optional<T> next_blocking() {
    std::optional<T> item;
    for (;;) {
      detail::SignalWaiter waiter;
      auto outcome = channel_->try_take(item, &waiter);
      if (outcome != detail::StreamChannel<T>::Take::empty) return item;
      detail::block_until(waiter.signal, producer_.state_ptr()->home(), std::nullopt);
    }
  }

  // Stops the producer at its next co_yield or co_await.
  void cancel() noexcept {
    if (producer_.cancel()) channel_->close(std::make_exception_ptr(TaskCancelled()));
  }
  // Completes when the producer finishes.
  const Future<void>& producer() const noexcept { return producer_; }

 private:
  std::shared_ptr<detail::StreamChannel<T>> channel_;
  Future<void> producer_;
};

}  // namespace fray
