// SafetensorsWriter: the canonical layout is fixed by the declarations, so the header goes out
// first and each tensor's bytes can then land at their final offsets in any order, from any thread.
// The writer tracks which byte ranges were written so that commit() can prove every byte was
// written exactly once; the file only appears at its destination (AtomicFile) when that holds.
#include <map>
#include <mutex>

#include "io/atomic_file.hpp"
#include "io/safetensors_json.hpp"
#include "io/safetensors_layout.hpp"
#include "lorakit/io.hpp"

namespace lorakit::io {

struct SafetensorsWriter::Impl {
  std::string dest;
  SafetensorsLayout layout;
  std::map<std::string, size_t, std::less<>> index;  // name → position in layout.tensors
  std::unique_ptr<AtomicFile> file;

  std::mutex mu;  // guards everything below
  // Per tensor: written ranges, begin → end, merged when they touch.
  std::vector<std::map<uint64_t, uint64_t>> written;
  std::vector<uint64_t> written_bytes;
  int in_flight = 0;  // writes between bookkeeping and the end of their pwrite
  bool failed = false;
  bool committed = false;

  std::string ref(const PlannedTensor& t) const { return dest + ": tensor " + json_quote(t.name); }

  // Records [b, e) of tensor i; throws when any of it was recorded before.
  void claim(size_t i, uint64_t b, uint64_t e) {
    auto& m = written[i];
    auto next = m.upper_bound(b);
    if (next != m.begin()) {
      auto prev = std::prev(next);
      if (prev->second > b) throw overlap(i, b, e, prev->first, prev->second);
    }
    if (next != m.end() && next->first < e) throw overlap(i, b, e, next->first, next->second);
    // Merge with touching neighbours, so that sequential chunks keep the map at one entry.
    uint64_t nb = b, ne = e;
    if (next != m.end() && next->first == e) {
      ne = next->second;
      next = m.erase(next);
    }
    if (next != m.begin()) {
      auto prev = std::prev(next);
      if (prev->second == b) {
        nb = prev->first;
        m.erase(prev);
      }
    }
    m.emplace(nb, ne);
    written_bytes[i] += e - b;
  }

  InvalidArgument overlap(size_t i, uint64_t b, uint64_t e, uint64_t ob, uint64_t oe) const {
    return InvalidArgument(ref(layout.tensors[i]) + ": bytes [" + std::to_string(b) + "," +
                           std::to_string(e) + ") overlap bytes [" + std::to_string(ob) + "," +
                           std::to_string(oe) + ") written before; each byte is written once");
  }
};

SafetensorsWriter::SafetensorsWriter(std::string dest, std::vector<TensorDecl> tensors,
                                     std::optional<std::map<std::string, std::string>> metadata)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.dest = std::move(dest);
  // Everything is validated before the temporary file exists.
  s.layout = plan_safetensors(s.dest, tensors, metadata);
  for (size_t i = 0; i < s.layout.tensors.size(); ++i) s.index.emplace(s.layout.tensors[i].name, i);
  s.written.resize(s.layout.tensors.size());
  s.written_bytes.assign(s.layout.tensors.size(), 0);
  s.file = std::make_unique<AtomicFile>(s.dest);
  s.file->truncate(s.layout.file_size());
  s.file->write_at(0, std::as_bytes(std::span(s.layout.prefix)));
}

SafetensorsWriter::~SafetensorsWriter() = default;  // AtomicFile removes an uncommitted temp file

void SafetensorsWriter::write(std::string_view name, std::span<const std::byte> data,
                              uint64_t offset) {
  Impl& s = *impl_;
  uint64_t at = 0;
  {
    std::lock_guard lock(s.mu);
    if (s.committed) throw InvalidArgument(s.dest + ": write after commit()");
    auto it = s.index.find(name);
    if (it == s.index.end())
      throw InvalidArgument(s.dest + ": tensor " + json_quote(name) + " was not declared");
    const size_t i = it->second;
    const PlannedTensor& t = s.layout.tensors[i];
    const uint64_t size = t.end - t.begin;
    uint64_t end = 0;
    if (__builtin_add_overflow(offset, uint64_t{data.size()}, &end) || end > size)
      throw InvalidArgument(s.ref(t) + ": bytes [" + std::to_string(offset) + "," +
                            std::to_string(offset) + "+" + std::to_string(data.size()) +
                            ") lie outside its " + std::to_string(size) + " bytes");
    if (data.empty()) return;
    s.claim(i, offset, end);
    at = s.layout.data_start() + t.begin + offset;
    ++s.in_flight;
  }
  try {
    s.file->write_at(at, data);  // pwrite: disjoint ranges need no lock
  } catch (...) {
    std::lock_guard lock(s.mu);
    --s.in_flight;
    s.failed = true;  // the range is claimed but its bytes are not on disk
    throw;
  }
  std::lock_guard lock(s.mu);
  --s.in_flight;
}

void SafetensorsWriter::commit() {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  if (s.committed) throw InvalidArgument(s.dest + ": commit() called twice");
  if (s.failed) throw IoError(s.dest + ": an earlier write failed; the file cannot be completed");
  if (s.in_flight) throw InvalidArgument(s.dest + ": commit() while writes are in progress");
  for (size_t i = 0; i < s.layout.tensors.size(); ++i) {
    const PlannedTensor& t = s.layout.tensors[i];
    const uint64_t size = t.end - t.begin;
    if (s.written_bytes[i] == size) continue;
    // The first byte not covered: 0 unless the first range starts there.
    uint64_t missing = 0;
    const auto& m = s.written[i];
    if (!m.empty() && m.begin()->first == 0) missing = m.begin()->second;
    throw InvalidArgument(s.ref(t) + ": " + std::to_string(s.written_bytes[i]) + " of " +
                          std::to_string(size) + " bytes written (byte " + std::to_string(missing) +
                          " is missing); every byte must be written before commit()");
  }
  s.file->commit();
  s.committed = true;
}

}  // namespace lorakit::io
