#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/fault_guard.hpp"
#include "lorakit/io.hpp"

namespace lorakit::io {
namespace {

uint64_t page_size() {
  static const uint64_t ps = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return ps;
}

}  // namespace

MappedFile MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw IoError(path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError(path + ": not a regular file");
  }
  MappedFile m;
  m.path_ = path;
  m.size_ = static_cast<uint64_t>(st.st_size);
  if (m.size_ > 0) {
    void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      throw IoError(path + ": cannot map: " + std::strerror(e));
    }
    m.data_ = static_cast<const std::byte*>(p);
    detail::register_mapping(p, m.size_, path);
  }
  ::close(fd);
  return m;
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : path_(std::move(o.path_)), data_(o.data_), size_(o.size_) {
  o.data_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_) {
      detail::unregister_mapping(data_);
      ::munmap(const_cast<std::byte*>(data_), size_);
    }
    path_ = std::move(o.path_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (!data_) return;
  detail::unregister_mapping(data_);
  ::munmap(const_cast<std::byte*>(data_), size_);
}

void MappedFile::advise_sequential(uint64_t offset, uint64_t len) const {
  if (!data_ || offset >= size_) return;
  uint64_t start = offset & ~(page_size() - 1);
  uint64_t end = std::min(size_, offset + len);
  ::madvise(const_cast<std::byte*>(data_) + start, end - start, MADV_WILLNEED);
}

void MappedFile::advise_done(uint64_t offset, uint64_t len) const {
  if (!data_ || offset >= size_) return;
  // Only whole pages inside the range: a neighbour's page must stay.
  uint64_t start = (offset + page_size() - 1) & ~(page_size() - 1);
  uint64_t end = std::min(size_, offset + len) & ~(page_size() - 1);
  if (end > start) ::madvise(const_cast<std::byte*>(data_) + start, end - start, MADV_DONTNEED);
}

std::string_view format_name(FileFormat f) {
  return f == FileFormat::Gguf ? "gguf" : "safetensors";
}

}  // namespace lorakit::io
