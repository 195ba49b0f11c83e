// SafetensorsWriter: the canonical layout is fixed by the declarations, so the header goes out
// first and each tensor's bytes can then land at their final offsets in any order, from any thread
// (TensorDataFile proves every byte is written exactly once before the file appears).
#include <optional>

#include "io/safetensors_json.hpp"
#include "io/safetensors_layout.hpp"
#include "io/tensor_data_file.hpp"
#include "lorakit/io.hpp"

namespace lorakit::io {

struct SafetensorsWriter::Impl {
  std::optional<TensorDataFile> data;
};

SafetensorsWriter::SafetensorsWriter(std::string dest, std::vector<TensorDecl> tensors,
                                     std::optional<std::map<std::string, std::string>> metadata)
    : impl_(std::make_unique<Impl>()) {
  // Everything is validated before the temporary file exists.
  const SafetensorsLayout layout = plan_safetensors(dest, tensors, metadata);
  std::vector<TensorDataFile::Region> regions;
  regions.reserve(layout.tensors.size());
  for (const PlannedTensor& t : layout.tensors)
    regions.push_back({t.name, layout.data_start() + t.begin, t.end - t.begin});
  impl_->data.emplace(std::move(dest), std::move(regions),
                      std::as_bytes(std::span(layout.prefix)), layout.file_size(),
                      [](std::string_view n) { return json_quote(n); });
}

SafetensorsWriter::~SafetensorsWriter() = default;  // AtomicFile removes an uncommitted temp file

void SafetensorsWriter::write(std::string_view name, std::span<const std::byte> data,
                              uint64_t offset) {
  impl_->data->write(name, data, offset);
}

void SafetensorsWriter::commit() { impl_->data->commit(); }

}  // namespace lorakit::io
