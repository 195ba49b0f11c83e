#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "io/fault_guard.hpp"
#include "lorakit/error.hpp"

namespace lorakit::io {
namespace {

std::string os_error(const std::string& what, const std::string& path) {
  return path + ": " + what + ": " + std::strerror(errno);
}

}  // namespace

AtomicFile::AtomicFile(std::string dest) : dest_(std::move(dest)) {
  std::filesystem::path p(dest_);
  std::filesystem::path dir = p.parent_path();
  if (dir.empty()) dir = ".";
  std::string leaf =
      ".";  // hidden, so that a listing of the folder does not show half-written files
  leaf.append(p.filename().string());
  leaf.append(".lorakit-tmp-XXXXXX");
  std::string templ = (dir / leaf).string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  fd_ = ::mkstemp(buf.data());
  if (fd_ < 0) throw IoError(os_error("cannot create a temporary file in its folder", dest_));
  temp_ = buf.data();
  detail::register_temp(temp_);  // removed by the SIGBUS guard if an input vanishes mid-write
  ::fchmod(fd_, 0644);
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_.empty()) {
    detail::unregister_temp(temp_);
    ::unlink(temp_.c_str());
  }
}

void AtomicFile::write_at(uint64_t offset, std::span<const std::byte> data) {
  const std::byte* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      // The bytes to write are not readable: a mapped input that shrank under us.
      if (const std::string src = errno == EFAULT ? detail::mapped_file_at(p) : ""; !src.empty())
        throw IoError(src + ": " + detail::kChangedWhileMapped + " (while writing " + dest_ + ")");
      throw IoError(os_error("write failed", dest_));
    }
    if (n == 0) throw IoError(dest_ + ": write failed: no progress");
    p += n;
    left -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

void AtomicFile::truncate(uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0)
    throw IoError(os_error("cannot size the output", dest_));
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) throw IoError(os_error("fsync failed", dest_));
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw IoError(os_error("close failed", dest_));
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), dest_.c_str()) != 0)
    throw IoError(os_error("cannot move the finished file into place", dest_));
  committed_ = true;
  detail::unregister_temp(temp_);
  std::filesystem::path dir = std::filesystem::path(dest_).parent_path();
  if (dir.empty()) dir = ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);  // best effort: the rename is durable once the folder is synced
    ::close(dfd);
  }
}

}  // namespace lorakit::io
