// ObjectRef<T>: an immutable object shared by reference, as ray.put gives.
// get() hands out the object itself, never a copy; passing a ref to a task
// hands the task a const reference to the same object.
#pragma once

#include <coroutine>
#include <memory>
#include <type_traits>
#include <utility>

namespace fray {

template <class T>
class ObjectRef {
 public:
  using value_type = T;

  ObjectRef() = default;
  explicit ObjectRef(std::shared_ptr<const T> object) noexcept : object_(std::move(object)) {}

  bool valid() const noexcept { return object_ != nullptr; }
  bool ready() const noexcept { return true; }
  const T& get() const noexcept { return *object_; }
  const T* operator->() const noexcept { return object_.get(); }
  const T& operator*() const noexcept { return *object_; }
  // How many refs share the object (for tests and diagnostics).
  long use_count() const noexcept { return object_.use_count(); }

  struct Awaiter {
    const T* object;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    const T& await_resume() const noexcept { return *object; }
  };
  Awaiter operator co_await() const noexcept { return Awaiter{object_.get()}; }

 private:
  std::shared_ptr<const T> object_;
};

// Stores `value` once, immutable, and returns a ref to it (ray.put).
template <class T>
ObjectRef<std::decay_t<T>> put(T&& value) {
  return ObjectRef<std::decay_t<T>>(std::make_shared<const std::decay_t<T>>(std::forward<T>(value)));
}

}  // namespace fray
