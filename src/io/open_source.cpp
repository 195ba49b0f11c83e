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

// Safetensors has no magic, so recognise its shape: an 8-byte binary length (a real one has zero
// high bytes; text never has control bytes there), then a JSON value. The length itself is not
// checked, so that a damaged file gets the reader's precise verdict rather than "unknown format".
bool looks_like_safetensors(const std::string& prefix) {
  if (prefix.size() < 9) return false;
  bool binary = false;
  for (size_t i = 0; i < 8; ++i) {
    const auto c = static_cast<unsigned char>(prefix[i]);
    binary = binary || c < 0x20 || c >= 0x7F;
  }
  if (!binary) return false;
  size_t i = 8;
  if (prefix.compare(i, 3, "\xEF\xBB\xBF") == 0) i += 3;  // a BOM: the reader names that error
  while (i < prefix.size() &&
         (prefix[i] == ' ' || prefix[i] == '\t' || prefix[i] == '\n' || prefix[i] == '\r'))
    ++i;
  return i < prefix.size() && (prefix[i] == '{' || prefix[i] == '[' || prefix[i] == '"');
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

  const std::string prefix = read_prefix(path, 4096);
  if (prefix.starts_with("GGUF") || name.ends_with(".gguf")) return open_gguf(path);
  if (name.ends_with(".safetensors") || looks_like_safetensors(prefix))
    return open_safetensors(path);
  throw FormatError(path, "unknown_format",
                    "neither GGUF (no \"GGUF\" magic) nor safetensors (no 8-byte header length "
                    "followed by a JSON object), nor a folder or a *.safetensors.index.json");
}

}  // namespace lorakit::io
