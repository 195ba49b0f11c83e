#include "io/multi_file_source.hpp"

#include <algorithm>
#include <numeric>
#include <set>

#include "io/safetensors_header.hpp"
#include "io/safetensors_json.hpp"

namespace lorakit::io {

uint32_t add_safetensors_file(SourceParts& parts, const std::string& file,
                              std::string_view prefix) {
  MappedFile m = MappedFile::open(file);
  SafetensorsHeader h = parse_safetensors(m.bytes(), file);
  const auto index = static_cast<uint32_t>(parts.files.size());
  parts.files.push_back(std::move(m));
  parts.tensors.reserve(parts.tensors.size() + h.tensors.size());
  for (TensorInfo& t : h.tensors) {
    if (!prefix.empty()) t.name.insert(0, prefix);
    t.file_index = index;
    parts.tensors.push_back(std::move(t));
  }
  // Shards and components usually repeat the same metadata ({"format":"pt"}); the first value of a
  // key is kept.
  std::set<std::string> have;
  for (const auto& e : parts.metadata) have.insert(e.key);
  for (MetadataEntry& e : h.metadata)
    if (have.insert(e.key).second) parts.metadata.push_back(std::move(e));
  return index;
}

MultiFileSource::MultiFileSource(std::string path, SourceParts parts)
    : path_(std::move(path)),
      files_(std::move(parts.files)),
      tensors_(std::move(parts.tensors)),
      metadata_(std::move(parts.metadata)) {
  by_name_.resize(tensors_.size());
  std::iota(by_name_.begin(), by_name_.end(), 0u);
  std::sort(by_name_.begin(), by_name_.end(),
            [&](uint32_t a, uint32_t b) { return tensors_[a].name < tensors_[b].name; });
  for (size_t i = 1; i < by_name_.size(); ++i) {
    const TensorInfo& a = tensors_[by_name_[i - 1]];
    const TensorInfo& b = tensors_[by_name_[i]];
    if (a.name == b.name)
      throw FormatError(path_, "duplicate_key",
                        "tensor " + json_quote(a.name) + " appears twice (in " +
                            files_[a.file_index].path() + " and " + files_[b.file_index].path() +
                            ")");
  }
}

const TensorInfo* MultiFileSource::find(std::string_view name) const {
  auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                             [&](uint32_t i, std::string_view n) { return tensors_[i].name < n; });
  if (it == by_name_.end() || tensors_[*it].name != name) return nullptr;
  return &tensors_[*it];
}

TensorView MultiFileSource::view(std::string_view name) const {
  const TensorInfo* info = find(name);
  if (!info) throw InvalidArgument(path_ + ": no tensor named " + json_quote(name));
  return view(*info);
}

TensorView MultiFileSource::view(const TensorInfo& info) const {
  // `info` may be a caller's copy: check it against the mapping rather than trusting it.
  if (info.file_index >= files_.size())
    throw InvalidArgument(path_ + ": tensor " + json_quote(info.name) + " names file " +
                          std::to_string(info.file_index) + " of " + std::to_string(files_.size()));
  const MappedFile& f = files_[info.file_index];
  uint64_t end = 0;
  if (__builtin_add_overflow(info.file_offset, info.nbytes, &end) || end > f.size())
    throw InvalidArgument(path_ + ": tensor " + json_quote(info.name) + " lies outside " +
                          f.path());
  return TensorView{&info, f.bytes().subspan(info.file_offset, info.nbytes)};
}

std::vector<const MappedFile*> MultiFileSource::files() const {
  std::vector<const MappedFile*> out;
  out.reserve(files_.size());
  for (const auto& f : files_) out.push_back(&f);
  return out;
}

}  // namespace lorakit::io
