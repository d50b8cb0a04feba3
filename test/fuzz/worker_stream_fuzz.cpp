// What a worker writes, as the driver reads it: a stream of frames (a
// length, then that many bytes), cut anywhere, the last one perhaps
// partial, a length perhaps absurd. The frames split off take exactly the
// bytes they cover, a partial one waits, an oversized one stops the split,
// and each frame gives an answer or `malformed`.
#include <string>
#include <vector>

#include "fray/detail/frame_length.hpp"
#include "fray/detail/worker_protocol.hpp"

#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = fray::fuzz::text_of(data, size);
  constexpr std::size_t kMaxFrame = 1 << 16;
  std::vector<std::string> payloads;
  bool oversized = false;
  const std::size_t taken = fray::detail::split_frames(bytes, kMaxFrame, payloads, oversized);
  std::size_t covered = 0;
  for (const std::string& payload : payloads) {
    if (payload.size() > kMaxFrame) fray::fuzz::property_broken("a frame over the limit was split off");
    covered += 4 + payload.size();
    (void)fray::detail::parse_answer(payload);
  }
  if (covered != taken || taken > bytes.size()) fray::fuzz::property_broken("the frames do not take the bytes they cover");
  if (!oversized && bytes.size() - taken >= 4 &&
      fray::detail::read_frame_length(bytes.data() + taken) + 4 <= bytes.size() - taken) {
    fray::fuzz::property_broken("a complete frame was left behind");
  }
  return 0;
}
