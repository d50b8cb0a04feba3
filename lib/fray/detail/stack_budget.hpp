// How much of the calling thread's stack is left. A thread blocked in get()
// may run the task it waits for on its own stack; this says when to stop
// nesting and park instead.
#pragma once

#include <cstddef>

namespace fray::detail {

// True while more than the reserve (an eighth of the stack, at least
// 512 KiB) is left below the caller's frame.
bool stack_has_room() noexcept;

}  // namespace fray::detail
