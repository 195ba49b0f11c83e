#pragma once

#include <string_view>

namespace lorakit::tools {

std::string_view version();

}  // namespace lorakit::tools
