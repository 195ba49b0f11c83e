// Building text reports line by line.
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>

namespace lorakit::tools {

template <typename... Args>
void append_line(std::string& out, fmt::format_string<Args...> f, Args&&... args) {
  out += fmt::format(f, std::forward<Args>(args)...);
  out += '\n';
}

}  // namespace lorakit::tools
