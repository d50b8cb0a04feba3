// The journal a Python worker writes its frames to (worker_protocol.hpp):
// what started, what finished, in order. The worker writes one entry per call
// before the next call starts, so what it wrote must outlive it and cost
// next to nothing: on x86 it is a byte ring in shared memory (a memfd; no
// system call per write, and memory stays readable when the worker dies);
// elsewhere (no store order between the worker's copy of the data and its
// write of the index) a pipe. Nobody polls it: the worker rings the bell when
// this side should read (worker_process.hpp). FRAY_WORKER_JOURNAL=pipe picks
// the pipe everywhere (the tests run both).
//
// Ring layout, little-endian: bytes 0-7 how much the worker ever wrote,
// 64-71 how much this side ever read, the data from byte 128 on.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fray::detail {

class WorkerJournal {
 public:
  static constexpr std::size_t kRingCapacity = 256 << 10;

  // Throws Error when the memfd or the pipe cannot be made.
  WorkerJournal();
  WorkerJournal(const WorkerJournal&) = delete;
  WorkerJournal& operator=(const WorkerJournal&) = delete;
  ~WorkerJournal();

  // The descriptor the worker gets (its number is on its command line).
  int child_fd() const noexcept { return child_fd_; }
  // Once the worker has it.
  void close_child_fd() noexcept;

  // Copies up to `max` unread bytes into `out`: how many (0: none now),
  // kEnded once a pipe's writer is gone, kBroken if the ring's index makes
  // no sense (the worker is to be replaced).
  static constexpr std::ptrdiff_t kEnded = -1, kBroken = -2;
  std::ptrdiff_t read(char* out, std::size_t max) noexcept;

 private:
  unsigned char* ring_ = nullptr;  // the mapping, or null for a pipe
  int pipe_read_ = -1;
  int child_fd_ = -1;
};

}  // namespace fray::detail
