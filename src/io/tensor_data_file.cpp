#include "io/tensor_data_file.hpp"

#include "lorakit/error.hpp"

namespace lorakit::io {

TensorDataFile::TensorDataFile(std::string dest, std::vector<Region> regions,
                               std::span<const std::byte> header, uint64_t file_size,
                               std::string (*quote)(std::string_view))
    : dest_(std::move(dest)), regions_(std::move(regions)), quote_(quote) {
  for (size_t i = 0; i < regions_.size(); ++i) index_.emplace(regions_[i].name, i);
  written_.resize(regions_.size());
  written_bytes_.assign(regions_.size(), 0);
  file_ = std::make_unique<AtomicFile>(dest_);
  file_->truncate(file_size);  // the data section is a hole until written
  file_->write_at(0, header);
}

std::string TensorDataFile::ref(std::string_view name) const {
  return dest_ + ": tensor " + quote_(name);
}

void TensorDataFile::claim(size_t i, uint64_t b, uint64_t e) {
  auto overlap = [&](uint64_t ob, uint64_t oe) {
    return InvalidArgument(ref(regions_[i].name) + ": bytes [" + std::to_string(b) + "," +
                           std::to_string(e) + ") overlap bytes [" + std::to_string(ob) + "," +
                           std::to_string(oe) + ") written before; each byte is written once");
  };
  auto& m = written_[i];
  auto next = m.upper_bound(b);
  if (next != m.begin()) {
    auto prev = std::prev(next);
    if (prev->second > b) throw overlap(prev->first, prev->second);
  }
  if (next != m.end() && next->first < e) throw overlap(next->first, next->second);
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
  written_bytes_[i] += e - b;
}

void TensorDataFile::write(std::string_view name, std::span<const std::byte> data,
                           uint64_t offset) {
  uint64_t at = 0;
  {
    std::lock_guard lock(mu_);
    if (committed_) throw InvalidArgument(ref(name) + ": write after commit()");
    if (failed_) throw IoError(dest_ + ": an earlier write failed; the file cannot be completed");
    auto it = index_.find(name);
    if (it == index_.end()) throw InvalidArgument(ref(name) + " was not declared");
    const size_t i = it->second;
    const uint64_t size = regions_[i].nbytes;
    uint64_t end = 0;
    if (__builtin_add_overflow(offset, uint64_t{data.size()}, &end) || end > size)
      throw InvalidArgument(ref(name) + ": bytes [" + std::to_string(offset) + "," +
                            std::to_string(offset) + "+" + std::to_string(data.size()) +
                            ") lie outside its " + std::to_string(size) + " bytes");
    if (data.empty()) return;
    claim(i, offset, end);
    at = regions_[i].file_offset + offset;
    ++in_flight_;
  }
  try {
    file_->write_at(at, data);  // pwrite: disjoint ranges need no lock
  } catch (...) {
    std::lock_guard lock(mu_);
    --in_flight_;
    failed_ = true;  // the range is claimed but its bytes are not on disk
    throw;
  }
  std::lock_guard lock(mu_);
  --in_flight_;
}

void TensorDataFile::commit() {
  std::lock_guard lock(mu_);
  if (committed_) throw InvalidArgument(dest_ + ": commit() called twice");
  if (failed_) throw IoError(dest_ + ": an earlier write failed; the file cannot be completed");
  if (in_flight_) throw InvalidArgument(dest_ + ": commit() while writes are in progress");
  for (size_t i = 0; i < regions_.size(); ++i) {
    const uint64_t size = regions_[i].nbytes;
    if (written_bytes_[i] == size) continue;
    // The first byte not covered: 0 unless the first range starts there.
    uint64_t missing = 0;
    const auto& m = written_[i];
    if (!m.empty() && m.begin()->first == 0) missing = m.begin()->second;
    throw InvalidArgument(ref(regions_[i].name) + ": " + std::to_string(written_bytes_[i]) +
                          " of " + std::to_string(size) + " bytes written (byte " +
                          std::to_string(missing) +
                          " is missing); every byte must be written before commit()");
  }
  file_->commit();
  committed_ = true;
}

}  // namespace lorakit::io
