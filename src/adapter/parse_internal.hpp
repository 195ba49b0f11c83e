// The parse entry point on a ModelView, so that tests can bind against hand-made module paths.
#pragma once

#include <memory>

#include "adapter/model_view.hpp"
#include "lorakit/adapter.hpp"

namespace lorakit::adapter::detail {

Adapter parse_view(std::shared_ptr<const io::TensorSource> src, const ModelView& m,
                   const ParseOptions& options = {});

}  // namespace lorakit::adapter::detail
