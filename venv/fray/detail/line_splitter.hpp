// Cuts a child's output, read in chunks, into lines: without their '\n',
// and without a '\r' before it. Used for streamed run output and for the
// Python workers' log lines.
//
// Bounded and linear: each byte is scanned once, and a line longer than
// kMaxLine is emitted in pieces of kMaxLine bytes, each ending with
// kSplitMarker. A progress bar redrawn with '\r' and never a '\n' (tqdm)
// would otherwise grow the partial line for the whole run.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace fray::detail {

class LineSplitter {
 public:
  static constexpr std::size_t kMaxLine = 64 * 1024;
  static constexpr std::string_view kSplitMarker = " [fray: line split at 65536 bytes]";
  static_assert(kMaxLine == 65536, "kSplitMarker names the limit");

  // Calls emit(line) for each line `data` completes, and for each full
  // kMaxLine piece of a longer line.
  template <class Emit>
  void feed(std::string_view data, Emit&& emit) {
    while (!data.empty()) {
      const std::size_t room = kMaxLine - partial_.size();  // partial_ never holds more than kMaxLine
      // Only the bytes that can still end this line are searched: a '\n'
      // at `room` ends a line of exactly kMaxLine bytes.
      const std::size_t newline = data.substr(0, room + 1).find('\n');
      if (newline != std::string_view::npos) {
        emit_line(data.substr(0, newline), emit);
        data.remove_prefix(newline + 1);
      } else if (data.size() > room) {
        emit_piece(data.substr(0, room), emit);
        data.remove_prefix(room);
      } else {
        partial_.append(data);
        return;
      }
    }
  }
  // At end of output: the last line, if it had no '\n'.
  template <class Emit>
  void finish(Emit&& emit) {
    if (partial_.empty()) return;
    emit(trimmed(partial_));
    partial_.clear();
  }

 private:
  // The line ending at `tail`: straight from the chunk when nothing is held.
  template <class Emit>
  void emit_line(std::string_view tail, Emit& emit) {
    if (partial_.empty()) {
      emit(trimmed(tail));
      return;
    }
    partial_.append(tail);
    emit(trimmed(partial_));
    partial_.clear();
  }
  template <class Emit>
  void emit_piece(std::string_view tail, Emit& emit) {
    partial_.append(tail);
    partial_.append(kSplitMarker);
    emit(std::string_view(partial_));
    partial_.clear();
  }
  static std::string_view trimmed(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  }
  std::string partial_;
};

}  // namespace fray::detail
