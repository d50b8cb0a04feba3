#include "fray/detail/stack_budget.hpp"

#include <pthread.h>

#include <algorithm>
#include <cstdint>

namespace fray::detail {

namespace {

struct StackBounds {
  std::uintptr_t low = 0;  // 0: unknown
  std::size_t reserve = 0;
};

StackBounds read_bounds() noexcept {
  StackBounds bounds;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return bounds;
  void* address = nullptr;
  std::size_t size = 0;
  if (pthread_attr_getstack(&attr, &address, &size) == 0 && size > 0) {
    bounds.low = reinterpret_cast<std::uintptr_t>(address);
    bounds.reserve = std::max<std::size_t>(size / 8, 512 * 1024);
  }
  pthread_attr_destroy(&attr);
  return bounds;
}

}  // namespace

bool stack_has_room() noexcept {
  thread_local const StackBounds bounds = read_bounds();
  if (bounds.low == 0) return false;  // unknown: do not nest
  const auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  return here > bounds.low && here - bounds.low > bounds.reserve;
}

}  // namespace fray::detail
