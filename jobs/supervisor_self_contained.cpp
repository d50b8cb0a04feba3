// What a self-contained fray-job-supervisor defines itself instead of
// loading it: Boost.JSON (in its documented one-file form) and the three
// out-of-line functions of fmt that fray's code calls. Debian ships fmt as a
// shared library only, and a shared fmt or Boost.JSON would bring the shared
// libstdc++ back, which this supervisor links statically. A supervisor
// starts once per job, and dynamic loading was most of its start-up here
// (about 1 ms of 2.4 ms for `fray-job-supervisor` printing its usage).
// Built only where no sanitizer is on (jobs/meson.build).
#include <boost/json/src.hpp>

#define FMT_HEADER_ONLY
#include <fmt/format.h>

namespace fray::detail {

// Taking their addresses makes this file define them (weakly, as fmt's
// header-only form does); a link that still needed libfmt.so would be
// caught by the test "a job supervisor built without sanitizers loads no
// C++ library".
std::string (*fmt_vformat_defined)(fmt::string_view, fmt::format_args) = &fmt::vformat;
void (*fmt_throw_format_error_defined)(const char*) = &fmt::detail::throw_format_error;
bool (*fmt_is_printable_defined)(std::uint32_t) = &fmt::detail::is_printable;

}  // namespace fray::detail
