// The format label of the load report (lora-formats.md §4.2). Binding never depends on it; it only
// tells the reader which naming family the file was written in.
#pragma once

#include <string>
#include <vector>

#include "lorakit/adapter.hpp"
#include "lorakit/io.hpp"

namespace lorakit::adapter::detail {

struct FormatLabel {
  Format format = Format::Unknown;
  std::string label;  // format_name plus sub-labels: "lycoris+dora", "peft (ai-toolkit)"
};

FormatLabel format_label(const std::vector<io::TensorInfo>& tensors,
                         const std::vector<io::MetadataEntry>& metadata);

}  // namespace lorakit::adapter::detail
