// decode_factors: every factor, bias part and magnitude of a record decoded to fp32 through the
// adapter's own source (GGUF adapters: the logical shape, data row-major of it).
#include <fmt/format.h>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

namespace {

Tensor32 decode_one(const adapter::Adapter& a, const adapter::Factor& f) {
  auto bad = [&](const std::string& why) {
    return FormatError(a.path, "bad_factor", fmt::format("{}: {}", f.key, why));
  };
  if (!f.info) throw bad("no tensor information");
  if (!a.source) throw bad("the adapter has no tensor source");
  const io::TensorInfo& info = *f.info;
  if (!codec::can_decode(info.dtype))
    throw FormatError(a.path, "unsupported_dtype",
                      fmt::format("{}: dtype {} cannot be decoded", f.key, name(info.dtype)));
  Tensor32 t;
  t.shape = info.shape;
  const uint64_t n = numel(t.shape);
  if (n != info.elements)
    throw bad(fmt::format("shape {} has {} elements, the tensor {}", shape_text(t.shape), n,
                          info.elements));
  const DTypeTraits& tr = traits(info.dtype);
  if (tr.block_elements == 0 || n % tr.block_elements != 0)
    throw bad(fmt::format("{} elements are not a whole number of {} blocks", n, tr.name));
  const uint64_t want = n / tr.block_elements * tr.block_bytes;
  const io::TensorView v = a.source->view(info);
  if (v.bytes.size() < want)
    throw bad(
        fmt::format("{} bytes where {} {} elements need {}", v.bytes.size(), n, tr.name, want));
  t.data.resize(n);
  try {
    if (n) codec::decode(info.dtype, v.bytes.data(), t.data.data(), n);
  } catch (const FormatError&) {
    throw;
  } catch (const Error& e) {
    throw bad(e.what());
  }
  return t;
}

}  // namespace

RecordFactors decode_factors(const adapter::Adapter& a, const adapter::Module& m) {
  RecordFactors r;
  r.module = &m;
  for (const auto& [role, f] : m.factors) r.factors.emplace(role, decode_one(a, f));
  for (const auto& [role, f] : m.bias) r.bias.emplace(role, decode_one(a, f));
  if (m.dora_scale) r.dora_scale = decode_one(a, *m.dora_scale);
  return r;
}

}  // namespace lorakit::patch::detail
