// The part both writers share once their header is laid out: a sized temporary file (AtomicFile)
// whose tensor regions are filled by write() calls in any order, from any thread, with every byte
// of every tensor written exactly once before commit() moves the file into place.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/atomic_file.hpp"

namespace lorakit::io {

class TensorDataFile {
 public:
  struct Region {
    std::string name;
    uint64_t file_offset = 0;  // absolute
    uint64_t nbytes = 0;
  };

  // Creates the temporary file, sizes it to `file_size` and writes `header` at 0.
  // `quote` renders a tensor name for messages (each format has its own quoting).
  TensorDataFile(std::string dest, std::vector<Region> regions, std::span<const std::byte> header,
                 uint64_t file_size, std::string (*quote)(std::string_view));

  // Writes `data` at `offset` within tensor `name`. Throws InvalidArgument for an undeclared name,
  // a range outside the tensor or one overlapping bytes written before; IoError when the OS write
  // fails (the file can then no longer be committed).
  void write(std::string_view name, std::span<const std::byte> data, uint64_t offset);
  // Throws InvalidArgument naming the first incomplete tensor and its first missing byte.
  void commit();

 private:
  std::string ref(std::string_view name) const;
  void claim(size_t i, uint64_t b, uint64_t e);

  std::string dest_;
  std::vector<Region> regions_;
  std::map<std::string, size_t, std::less<>> index_;
  std::string (*quote_)(std::string_view);
  std::unique_ptr<AtomicFile> file_;

  std::mutex mu_;  // guards everything below
  std::vector<std::map<uint64_t, uint64_t>> written_;  // per tensor: begin → end, merged
  std::vector<uint64_t> written_bytes_;
  int in_flight_ = 0;  // writes between bookkeeping and the end of their pwrite
  bool failed_ = false;
  bool committed_ = false;
};

}  // namespace lorakit::io
