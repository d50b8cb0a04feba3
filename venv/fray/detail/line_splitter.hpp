// Cuts a child's output, read in chunks, into lines: without their '\n',
// and without a '\r' before it. Used for streamed run output and for the
// Python workers' log lines.
#pragma once

#include <string>
#include <string_view>

namespace fray::detail {

class LineSplitter {
 public:
  // Calls emit(line) for each line `data` completes.
  template <class Emit>
  void feed(std::string_view data, Emit&& emit) {
    partial_.append(data);
    std::size_t start = 0;
    for (std::size_t newline; (newline = partial_.find('\n', start)) != std::string::npos; start = newline + 1) {
      emit(trimmed(std::string_view(partial_).substr(start, newline - start)));
    }
    partial_.erase(0, start);
  }
  // At end of output: the last line, if it had no '\n'.
  template <class Emit>
  void finish(Emit&& emit) {
    if (partial_.empty()) return;
    emit(trimmed(partial_));
    partial_.clear();
  }

 private:
  static std::string_view trimmed(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  }
  std::string partial_;
};

}  // namespace fray::detail
