// The compiled part of Boost.Process v2. With BOOST_PROCESS_V2_SEPARATE_COMPILATION
// (set project-wide) header-only use does not link on Boost 1.81
// (boostorg/process#312); this must be included in exactly one .cpp of the
// program. If the core library takes it over, drop this file from fray-bench.
#include <boost/process/v2/src.hpp>
