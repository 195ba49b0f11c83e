#include "tools/version.hpp"

namespace lorakit::tools {

std::string_view version() { return "0.1.0"; }

}  // namespace lorakit::tools
