// HeldMemory: memory the bench process holds while it measures, to show what
// a big driver costs each child it starts (process_spawn_big_driver,
// py_worker_cold_start_big). A fork copies the parent's page tables, and
// those exist only for pages that were touched, so every page is written
// once: reserving the memory alone would cost a fork nothing.
#pragma once

#include "report.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace fray::bench {

inline constexpr std::size_t kBigDriverBytes = std::size_t{4} << 30;  // 4 GiB, the contract's "driver holding 4 GB"

class HeldMemory {
 public:
  // Maps `bytes` of private anonymous memory (what malloc gives a large
  // allocation, and what Python's big-driver peer holds) and writes one byte
  // per page. Throws std::system_error when it cannot be mapped.
  explicit HeldMemory(std::size_t bytes) : size_(bytes) {
    data_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data_ == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap of the held memory");
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    auto* bytes_of = static_cast<volatile char*>(data_);
    for (std::size_t i = 0; i < size_; i += page) bytes_of[i] = 1;
  }
  ~HeldMemory() { ::munmap(data_, size_); }
  HeldMemory(const HeldMemory&) = delete;
  HeldMemory& operator=(const HeldMemory&) = delete;

 private:
  void* data_;
  std::size_t size_;
};

// HeldMemory of `bytes` for a big-driver metric, or nullopt when it cannot be
// mapped: that metric is then skipped in `suite` (with why), so the suite's
// other metrics still count. (With overcommit a shortage may show only as
// the OOM killer while the pages are touched; nothing catches that.)
inline std::optional<HeldMemory> hold_for(Report& report, std::string suite, std::string_view metric,
                                          std::size_t bytes) {
  try {
    return std::optional<HeldMemory>(std::in_place, bytes);
  } catch (const std::system_error& e) {
    report.skip(std::move(suite), fmt::format("{}: cannot hold {} MiB ({})", metric, bytes >> 20, e.what()));
    return std::nullopt;
  }
}

}  // namespace fray::bench
