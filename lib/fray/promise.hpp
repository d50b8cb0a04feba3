// Promise<T>: completes a Future<T> from outside any task: a callback, an
// I/O completion, another thread. A promise dropped without a result fails
// its future with BrokenPromise, so nobody waits forever; a promise given a
// second result refuses it with PromiseAlreadySatisfied.
#pragma once

#include <exception>
#include <utility>

#include "fray/future.hpp"

namespace fray {

class BrokenPromise : public Error {
 public:
  BrokenPromise() : Error("the promise was dropped before it gave a result") {}
};

class PromiseAlreadySatisfied : public Error {
 public:
  PromiseAlreadySatisfied() : Error("the promise already gave its result; a second one is refused") {}
};

template <class T = void>
class Promise {
 public:
  Promise() : state_(new detail::SharedState<T>(1)) { state_->try_start(); }
  Promise(Promise&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  Promise& operator=(Promise&& other) noexcept {
    Promise(std::move(other)).swap(*this);
    return *this;
  }
  ~Promise() {
    if (state_ == nullptr) return;
    state_->complete_with_error(std::make_exception_ptr(BrokenPromise()));  // no-op once it has a result
    state_->release();
  }

  // Each call gives another future of the same result.
  Future<T> future() const {
    state_->add_ref();
    return Future<T>(state_);
  }

  template <class... U>
  void set_value(U&&... value) {
    if (!state_->set_value(std::forward<U>(value)...)) throw PromiseAlreadySatisfied();
  }
  void set_error(std::exception_ptr error) {
    if (!state_->complete_with_error(std::move(error))) throw PromiseAlreadySatisfied();
  }

 private:
  void swap(Promise& other) noexcept { std::swap(state_, other.state_); }
  detail::SharedState<T>* state_;
};

}  // namespace fray
