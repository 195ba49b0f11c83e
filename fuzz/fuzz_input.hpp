// Fuzz inputs as files: the readers take paths (they memory-map), so each input is written to an
// anonymous in-memory file (memfd) and opened through /proc/self/fd — no disk, no cleanup.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "lorakit/io.hpp"

namespace lorakit::fuzz {

class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size, const char* name = "fuzz") {
    fd_ = ::memfd_create(name, MFD_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("memfd_create failed");
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) throw std::runtime_error("memfd write failed");
      done += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// Every tensor view of an opened source is exactly its declared size and lies inside the mapping
// (its first and last bytes are read); aborts otherwise, which the fuzzer reports.
inline void check_views(const io::TensorSource& src) {
  for (const auto& t : src.tensors()) {
    const auto v = src.view(t);
    if (v.bytes.size() != t.nbytes) std::abort();
    if (!v.bytes.empty()) {
      volatile std::byte first = v.bytes.front(), last = v.bytes.back();
      (void)first, (void)last;
    }
  }
}

}  // namespace lorakit::fuzz
