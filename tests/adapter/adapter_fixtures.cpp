#include "adapter_fixtures.hpp"

#include <fmt/format.h>

#include <cstring>
#include <mutex>

#include "adapter/alias_map.hpp"
#include "adapter/record_grouping.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "model/corpus_util.hpp"

namespace lorakit::testing {

MemorySource::MemorySource(std::string path, std::vector<io::TensorInfo> tensors,
                           std::map<std::string, std::vector<std::byte>> data,
                           std::vector<io::MetadataEntry> metadata)
    : path_(std::move(path)),
      tensors_(std::move(tensors)),
      data_(std::move(data)),
      metadata_(std::move(metadata)) {}

const io::TensorInfo* MemorySource::find(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

io::TensorView MemorySource::view(std::string_view name) const {
  const io::TensorInfo* t = find(name);
  if (!t) throw InvalidArgument(std::string(name) + ": no such tensor");
  return view(*t);
}

io::TensorView MemorySource::view(const io::TensorInfo& info) const {
  auto it = data_.find(info.name);
  if (it == data_.end())
    throw InvalidArgument(info.name + ": test source holds no bytes for this tensor");
  return {&info, std::span<const std::byte>(it->second)};
}

namespace {

uint64_t count(const std::vector<uint64_t>& s) {
  uint64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

io::TensorInfo info(const std::string& name, std::vector<uint64_t> shape, DType dt) {
  io::TensorInfo t;
  t.name = name;
  t.dtype = dt;
  t.shape = shape;
  t.storage_shape = shape;
  t.elements = count(shape);
  t.nbytes = t.elements * traits(dt).block_bytes;
  return t;
}

std::vector<std::byte> encode_values(const std::vector<double>& vals, DType dt) {
  std::vector<std::byte> out;
  for (double v : vals) {
    std::byte buf[8]{};
    size_t n = 0;
    switch (dt) {
      case DType::F32: {
        float f = static_cast<float>(v);
        std::memcpy(buf, &f, 4);
        n = 4;
        break;
      }
      case DType::F16: {
        uint16_t h = codec::fp32_to_fp16(static_cast<float>(v));
        std::memcpy(buf, &h, 2);
        n = 2;
        break;
      }
      case DType::BF16: {
        uint16_t h = codec::fp32_to_bf16(static_cast<float>(v));
        std::memcpy(buf, &h, 2);
        n = 2;
        break;
      }
      case DType::I64: {
        int64_t i = static_cast<int64_t>(v);
        std::memcpy(buf, &i, 8);
        n = 8;
        break;
      }
      case DType::BOOL: {
        buf[0] = std::byte{v != 0 ? uint8_t{1} : uint8_t{0}};
        n = 1;
        break;
      }
      default:
        throw InvalidArgument("encode_values: unsupported dtype");
    }
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

}  // namespace

AdapterBuilder& AdapterBuilder::t(const std::string& name, std::vector<uint64_t> shape, DType dt) {
  tensors_.push_back(info(name, std::move(shape), dt));
  return *this;
}

AdapterBuilder& AdapterBuilder::v(const std::string& name, std::vector<uint64_t> shape,
                                  std::vector<double> vals, DType dt) {
  tensors_.push_back(info(name, std::move(shape), dt));
  data_[name] = encode_values(vals, dt);
  return *this;
}

AdapterBuilder& AdapterBuilder::lora(const std::string& prefix, uint64_t out, uint64_t in,
                                     uint64_t r, const std::string& down, const std::string& up) {
  t(prefix + down, {r, in});
  return t(prefix + up, {out, r});
}

AdapterBuilder& AdapterBuilder::meta(const std::string& key, const std::string& value) {
  io::MetadataEntry e;
  e.key = key;
  e.value.type = io::GgufType::STRING;
  e.value.value = value;
  metadata_.push_back(std::move(e));
  return *this;
}

std::shared_ptr<const io::TensorSource> AdapterBuilder::build() const {
  return std::make_shared<MemorySource>(path_, tensors_, data_, metadata_);
}

std::shared_ptr<const io::TensorSource> corpus_adapter(const std::string& name, uint64_t rank,
                                                       double alpha) {
  AdapterBuilder b(name);
  for (auto& t : corpus_tensors(name)) {
    for (auto& d : t.shape)
      if (d == kAnyDim) d = rank;
    if (t.shape.empty()) {
      b.v(t.name, {}, {alpha});
    } else if (count(t.shape) <= 16) {
      b.v(t.name, t.shape, std::vector<double>(count(t.shape), 0.0));
    } else {
      b.t(t.name, t.shape);
    }
  }
  return b.build();
}

std::shared_ptr<const io::TensorSource> shaped_for_model(const std::string& corpus_name,
                                                         const model::ModelIndex& m) {
  using namespace adapter::detail;
  const ModelView view = ModelView::of(m);
  const AliasMap aliases = build_alias_map(view);
  std::vector<io::TensorInfo> names;
  for (const auto& t : corpus_tensors(corpus_name))
    names.push_back(info(t.name, {4, 4}, DType::F32));
  const Grouping g = group_keys(names, aliases);
  std::map<std::string, std::vector<uint64_t>> shape_of;
  std::map<std::string, std::vector<double>> values_of;
  for (const Record& r : g.records) {
    std::optional<std::vector<uint64_t>> target;
    if (r.state == Record::State::Bound) {
      target = binding_shape(r.alias->binding, view);
      if (target && r.alias->binding.transform == model::DeltaTransform::Transpose)
        std::swap((*target)[0], (*target)[1]);
    }
    for (const KeyRef& k : r.keys) {
      const std::string_view role = k.suffix->role;
      const std::string& key = k.info->name;
      if (role == "alpha" || role == "on_input") {
        shape_of[key] = {};
        values_of[key] = {role == "alpha" ? 4.0 : 0.0};
        continue;
      }
      if (!target) {
        shape_of[key] = {4, 4};
        continue;
      }
      const auto& T = *target;
      const uint64_t out = T[0], in = T.size() >= 2 ? T[1] : 1;
      const uint64_t cols = count(T) / T[0];
      std::vector<uint64_t> s;
      if (role == "down") {
        s = T.size() == 4 ? std::vector<uint64_t>{4, in, T[2], T[3]} : std::vector<uint64_t>{4, in};
      } else if (role == "up") {
        s = T.size() == 4 ? std::vector<uint64_t>{out, 4, 1, 1} : std::vector<uint64_t>{out, 4};
      } else if (role == "dora_scale") {
        s = {1, in};
      } else if (role == "lora_magnitude_vector" || role == "weight") {
        s = {out};
      } else if (role == "w1") {
        s = {1, 1};
      } else if (role == "w2") {
        s = T;
      } else if (role == "w1a" || role == "w2a") {
        s = {out, 4};
      } else if (role == "w1b" || role == "w2b") {
        s = {4, cols};
      } else {
        s = {4, 4};
      }
      shape_of[key] = s;
    }
  }
  AdapterBuilder b(corpus_name);
  for (const auto& t : names) {
    const auto& s = shape_of.count(t.name) ? shape_of[t.name] : std::vector<uint64_t>{4, 4};
    if (values_of.count(t.name))
      b.v(t.name, s, values_of[t.name]);
    else
      b.t(t.name, s);
  }
  return b.build();
}

const model::ModelIndex& corpus_base(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<model::ModelIndex>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[name];
  if (!slot) slot = std::make_unique<model::ModelIndex>(corpus_model(name));
  return *slot;
}

std::string report_summary(const adapter::MatchReport& r) {
  std::string s = fmt::format("format {} trained_for {} ({}) matched {}/{}", r.format_label,
                              r.trained_for, r.trained_for_detail, r.matched, r.modules);
  auto list = [&](const char* name, const std::vector<std::string>& v) {
    if (v.empty()) return;
    s += fmt::format("\n  {} {}:", name, v.size());
    for (size_t i = 0; i < v.size() && i < 5; ++i) s += "\n    " + v[i];
  };
  if (!r.compat_error.empty()) s += "\n  compat: " + r.compat_error;
  list("unmatched", r.unmatched);
  list("ambiguous", r.ambiguous);
  list("unused", r.unused_keys);
  list("incomplete", r.incomplete);
  list("conflicts", r.conflicts);
  list("unsupported", r.unsupported);
  list("invalid", r.invalid);
  std::vector<std::string> sm;
  for (const auto& m : r.shape_mismatch)
    sm.push_back(fmt::format("{} [{}] vs {} [{}]", m.key, fmt::join(m.shape, ","), m.target,
                             fmt::join(m.target_shape, ",")));
  list("shape_mismatch", sm);
  list("duplicates", r.duplicate_bindings);
  list("overlaps", r.overlaps);
  list("warnings", r.warnings);
  return s;
}

}  // namespace lorakit::testing
