#include "adapter/scalars.hpp"

#include <fmt/format.h>

#include "lorakit/codec.hpp"

namespace lorakit::adapter::detail {

bool is_plain_number(DType t) {
  switch (t) {
    case DType::BOOL:
    case DType::U8:
    case DType::I8:
    case DType::I16:
    case DType::U16:
    case DType::I32:
    case DType::U32:
    case DType::I64:
    case DType::U64:
    case DType::F16:
    case DType::BF16:
    case DType::F32:
    case DType::F64:
    case DType::F8_E4M3:
    case DType::F8_E5M2:
      return true;
    default:
      return false;
  }
}

std::optional<std::vector<float>> read_small(const io::TensorSource& src, const io::TensorInfo& t,
                                             size_t max_elements, std::string& why) {
  if (!is_plain_number(t.dtype) || !codec::can_decode(t.dtype)) {
    why = fmt::format("{} has dtype {}, not a plain number", t.name, name(t.dtype));
    return std::nullopt;
  }
  if (t.elements > max_elements) {
    why = fmt::format("{} has {} elements (at most {} expected)", t.name, t.elements, max_elements);
    return std::nullopt;
  }
  const io::TensorView v = src.view(t);
  std::vector<float> out(t.elements);
  if (t.elements) codec::decode(t.dtype, v.bytes.data(), out.data(), out.size());
  return out;
}

}  // namespace lorakit::adapter::detail
