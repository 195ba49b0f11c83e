// A file that appears at its destination only when complete: data goes to a temporary file in the
// destination's folder (so rename stays on one filesystem); commit() fsyncs it, renames it over the
// destination and fsyncs the folder. Without a successful commit() the temporary file is removed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace lorakit::io {

class AtomicFile {
 public:
  explicit AtomicFile(std::string dest);  // throws IoError
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Writes all of `data` at `offset` (pwrite; thread-safe for disjoint ranges). Throws IoError, e.g. on
  // a full disk.
  void write_at(uint64_t offset, std::span<const std::byte> data);
  // Sets the final size up front (sparse); later writes fill it in.
  void truncate(uint64_t size);
  void commit();
  const std::string& temp_path() const { return temp_; }
  const std::string& dest() const { return dest_; }

 private:
  void discard() noexcept;
  std::string dest_, temp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace lorakit::io
