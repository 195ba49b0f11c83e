// Fuzz inputs as files: the readers take paths (they memory-map), so each input is written to an
// anonymous in-memory file (memfd) and opened through /proc/self/fd — no disk, no cleanup.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

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

}  // namespace lorakit::fuzz
