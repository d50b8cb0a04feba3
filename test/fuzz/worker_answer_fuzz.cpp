// The driver's side of the worker protocol: whatever bytes a worker (or a
// crash in the middle of its write) leaves in a frame, parse_answer gives
// an answer or `malformed`, and never throws.
#include "fray/detail/worker_protocol.hpp"

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using fray::detail::WorkerAnswer;
  const WorkerAnswer answer = fray::detail::parse_answer(fray::fuzz::text_of(data, size));
  if (answer.kind == WorkerAnswer::Kind::malformed && !std::holds_alternative<std::exception_ptr>(answer.outcome)) {
    fray::fuzz::property_broken("a malformed answer carries no error saying why");
  }
  return 0;
}
