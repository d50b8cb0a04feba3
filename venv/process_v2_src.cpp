// The compiled part of Boost.Process v2. With BOOST_PROCESS_V2_SEPARATE_COMPILATION
// (set project-wide) header-only use does not link on Boost 1.81
// (boostorg/process#312); it must be compiled in exactly one .cpp of a
// program. This is that one: everything that starts processes links fray_venv.
#include <boost/process/v2/src.hpp>
