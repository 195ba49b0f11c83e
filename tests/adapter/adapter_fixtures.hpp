// Test helpers for the adapter layer: an in-memory TensorSource (headers, plus bytes only for the
// few scalars parsing reads), a builder for synthetic adapters, and models from the shared corpus.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapter/model_view.hpp"
#include "lorakit/adapter.hpp"
#include "lorakit/io.hpp"
#include "lorakit/model.hpp"

namespace lorakit::testing {

// Tensors known by header; `view` works only for tensors given bytes (small scalars).
class MemorySource final : public io::TensorSource {
 public:
  MemorySource(std::string path, std::vector<io::TensorInfo> tensors,
               std::map<std::string, std::vector<std::byte>> data,
               std::vector<io::MetadataEntry> metadata);
  const std::string& path() const override { return path_; }
  io::FileFormat format() const override { return io::FileFormat::Safetensors; }
  const std::vector<io::TensorInfo>& tensors() const override { return tensors_; }
  const io::TensorInfo* find(std::string_view name) const override;
  io::TensorView view(std::string_view name) const override;
  io::TensorView view(const io::TensorInfo& info) const override;
  const std::vector<io::MetadataEntry>& metadata() const override { return metadata_; }
  std::vector<const io::MappedFile*> files() const override { return {}; }

 private:
  std::string path_;
  std::vector<io::TensorInfo> tensors_;
  std::map<std::string, std::vector<std::byte>> data_;
  std::vector<io::MetadataEntry> metadata_;
};

// Builds a synthetic adapter key by key.
class AdapterBuilder {
 public:
  explicit AdapterBuilder(std::string path = "adapter.safetensors") : path_(std::move(path)) {}
  // A factor known by its header only.
  AdapterBuilder& t(const std::string& name, std::vector<uint64_t> shape, DType dt = DType::F32);
  // A tensor with values (alpha, on_input, reshape_weight, …), stored as F32 unless `dt` says so
  // (F32, F16, BF16, I64, BOOL supported).
  AdapterBuilder& v(const std::string& name, std::vector<uint64_t> shape, std::vector<double> vals,
                    DType dt = DType::F32);
  AdapterBuilder& alpha(const std::string& prefix, double a) {
    return v(prefix + ".alpha", {}, {a});
  }
  // kohya LoRA pair: down [r, in], up [out, r].
  AdapterBuilder& lora(const std::string& prefix, uint64_t out, uint64_t in, uint64_t r = 4,
                       const std::string& down = ".lora_down.weight",
                       const std::string& up = ".lora_up.weight");
  AdapterBuilder& meta(const std::string& key, const std::string& value);
  std::shared_ptr<const io::TensorSource> build() const;

 private:
  std::string path_;
  std::vector<io::TensorInfo> tensors_;
  std::map<std::string, std::vector<std::byte>> data_;
  std::vector<io::MetadataEntry> metadata_;
};

// A source from a corpus LoRA list: "-1" ranks become `rank`; scalars (alpha) get `alpha`; tensors
// of at most 16 elements get zero bytes so that they can be read.
std::shared_ptr<const io::TensorSource> corpus_adapter(const std::string& name, uint64_t rank = 4,
                                                       double alpha = 4);

// A source from a corpus key list without shapes: every key resolved against `m` gets factor shapes
// that fit its target (rank 4); keys that do not bind get small placeholder shapes.
std::shared_ptr<const io::TensorSource> shaped_for_model(const std::string& corpus_name,
                                                         const model::ModelIndex& m);

// The corpus base models, parsed once per test binary.
const model::ModelIndex& corpus_base(const std::string& name);

// Count of a report's problem lists, for one-line assertions.
std::string report_summary(const adapter::MatchReport& r);

}  // namespace lorakit::testing
