// Precompiled once for the whole test executable: Asio and Boost headers
// dominate build time otherwise.
#include <doctest/doctest.h>

#include <fray/fray.hpp>
