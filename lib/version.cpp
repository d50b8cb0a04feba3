#include "fray/version.hpp"

namespace fray {

// Compiled into the library, so it reports the library's version even to a
// program compiled against other headers.
std::string_view version() noexcept { return FRAY_VERSION; }

}  // namespace fray
