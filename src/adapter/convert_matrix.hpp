// The support matrix of `lorakit convert` (docs/formats.md), rendered from the tables the converter
// itself uses (convert_targets: prefix rules, families, suffixes per kind). A test regenerates it
// and fails when the checked-in doc differs.
#pragma once

#include <string>

namespace lorakit::adapter::detail {

std::string support_matrix_markdown();

}  // namespace lorakit::adapter::detail
