// fray's worker I/O thread: one for the program, started on first use. It
// launches the Python workers (PR_SET_PDEATHSIG follows the thread that
// forked, and this one lives as long as the program), reads their bells,
// journals and logs, and runs their timers.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>

namespace fray::detail {

boost::asio::io_context& worker_io();
// How long the I/O thread and an idle worker poll for what comes next before
// they sleep: FRAY_WORKER_SPIN_US (microseconds; default 0: never poll).
std::chrono::microseconds answer_spin();
// An answer is expected soon: the I/O thread polls instead of sleeping for a while.
void request_answer_spin() noexcept;
bool on_worker_io_thread() noexcept;

}  // namespace fray::detail
