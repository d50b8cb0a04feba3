// The buffer between a streaming task's producer coroutine and its one
// consumer: bounded (a full buffer suspends the producer), closed exactly
// once by the producer task's exit path, with its error if it failed.
#pragma once

#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>

#include "fray/detail/shared_state.hpp"
#include "fray/detail/suspension.hpp"

namespace fray::detail {

// What a task's exit path closes, whatever the item type.
class ChannelCloser {
 public:
  virtual void close(std::exception_ptr error) noexcept = 0;

 protected:
  ~ChannelCloser() = default;
};

template <class T>
class StreamChannel final : public ChannelCloser {
 public:
  explicit StreamChannel(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // Producer side ----------------------------------------------------------
  // Pushes if there is room; otherwise records `producer` to be resumed
  // when there is (returns false). The consumer to wake, if any, is left in
  // `to_wake` for the caller to wake once it holds no lock.
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
  // Exactly once per channel that a task produces into; later calls do nothing.
  void close(std::exception_ptr error) noexcept override {
    Waiter* consumer = nullptr;
    {
      std::lock_guard guard(mutex_);
      if (closed_) return;
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
  // The producer to resume, if any, is left in `to_wake`.
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
  Take try_take(std::optional<T>& out, Waiter* consumer) {
    Resumption* producer = nullptr;
    const Take taken = take_or_wait(out, consumer, producer);
    if (producer != nullptr) producer->schedule();
    return taken;
  }
  // True if `consumer` was still registered (so it will not be called).
  bool withdraw_consumer(Waiter* consumer) {
    std::lock_guard guard(mutex_);
    if (waiting_consumer_ != consumer) return false;
    waiting_consumer_ = nullptr;
    return true;
  }
  bool closed() const {
    std::lock_guard guard(mutex_);
    return closed_;
  }

 private:
  mutable std::mutex mutex_;
  std::deque<T> buffer_;
  std::size_t capacity_;
  bool closed_ = false;
  std::exception_ptr error_;
  Waiter* waiting_consumer_ = nullptr;
  Resumption* waiting_producer_ = nullptr;
};

}  // namespace fray::detail
