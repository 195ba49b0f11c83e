// `lorakit diff A B`: compare two models tensor by tensor by name, across formats and types (values are
// compared after decoding to fp32, so a Q8_0 GGUF can be compared with its F16 source).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lorakit/dtype.hpp"

namespace lorakit::tools {

struct TensorDiff {
  std::string name;
  DType dtype_a, dtype_b;
  std::vector<uint64_t> shape_a, shape_b;
  bool bit_identical = false;  // same dtype, same shape, same bytes
  bool shape_differs = false;
  bool dtype_differs = false;
  bool compared = false;       // values were compared (shapes equal and both decodable)
  double max_abs = 0;          // max |a − b| over elements (NaN on either side counts as +inf)
  double rel_frobenius = 0;    // ‖a − b‖₂ / ‖a‖₂ (0 when both are zero; +inf when only a is zero)
  std::string note;            // why values were not compared, if they were not
};

struct DiffResult {
  std::string path_a, path_b;
  std::vector<TensorDiff> common;  // in A's order
  std::vector<std::string> only_a, only_b;
  uint64_t identical = 0;
  // True when every common tensor is bit-identical and no name is missing on either side.
  bool same() const { return identical == common.size() && only_a.empty() && only_b.empty(); }
};

DiffResult diff(const std::string& a, const std::string& b);

std::string render_text(const DiffResult& r);
nlohmann::ordered_json render_json(const DiffResult& r);

}  // namespace lorakit::tools
