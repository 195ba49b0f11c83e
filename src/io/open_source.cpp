// open_tensor_source: decides what a path holds and hands it to the matching reader. The content
// decides where it can (the "GGUF" magic, a safetensors length prefix followed by a JSON object);
// the name decides only what content cannot (folders, shard indexes) or where the name states the
// format, so that a damaged `.safetensors` file gets the safetensors reader's precise error instead
// of "unknown format".
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "io/safetensors_folder.hpp"
#include "io/safetensors_header.hpp"
#include "io/safetensors_sharded.hpp"
#include "lorakit/io.hpp"

namespace lorakit::io {
namespace fs = std::filesystem;

namespace {

// The first bytes of a file (fewer when the file is shorter).
std::string read_prefix(const std::string& path, size_t n) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(path + ": cannot open: " + std::strerror(errno));
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, out.data() + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      ::close(fd);
      throw IoError(path + ": read failed: " + std::strerror(e));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

// An 8-byte length that fits the file and the limit, then JSON whitespace and "{".
bool looks_like_safetensors(const std::string& prefix, uint64_t file_size) {
  if (prefix.size() < 9) return false;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(prefix[static_cast<size_t>(i)]);
  if (n == 0 || n > kMaxSafetensorsHeader || n > file_size - 8) return false;
  for (size_t i = 8; i < prefix.size() && i < 8 + n; ++i) {
    char c = prefix[i];
    if (c == '{') return true;
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return false;
}

}  // namespace

std::unique_ptr<TensorSource> open_tensor_source(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st))
    throw IoError(path + ": cannot open: " + (ec ? ec.message() : "no such file or folder"));
  if (fs::is_directory(st)) return open_safetensors_folder(path);

  const std::string name = fs::path(path).filename().string();
  if (name == "model_index.json") {
    std::string parent = fs::path(path).parent_path().string();
    return open_safetensors_folder(parent.empty() ? "." : parent);
  }
  if (name.ends_with(".index.json")) return open_sharded_safetensors(path);

  const uint64_t size = fs::file_size(path, ec);
  if (ec) throw IoError(path + ": cannot stat: " + ec.message());
  const std::string prefix = read_prefix(path, 4096);
  if (prefix.starts_with("GGUF") || name.ends_with(".gguf")) return open_gguf(path);
  if (name.ends_with(".safetensors") || looks_like_safetensors(prefix, size))
    return open_safetensors(path);
  throw FormatError(path, "unknown_format",
                    "neither GGUF (no \"GGUF\" magic) nor safetensors (no 8-byte header length "
                    "followed by a JSON object), nor a folder or a *.safetensors.index.json");
}

}  // namespace lorakit::io
