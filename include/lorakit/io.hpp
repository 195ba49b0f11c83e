// lorakit::io — tensor files on disk: memory-mapped readers (safetensors, GGUF, sharded
// safetensors, diffusers folders) that hand out zero-copy views, and atomic streaming writers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lorakit/dtype.hpp"
#include "lorakit/error.hpp"

namespace lorakit::io {

// Turns a bus error on a mapped input (the file truncated or rewritten in place by another program
// while lorakit reads it) into the one-line error "PROGRAM: error: PATH: the file changed while it
// was being read ..." and exit status 2, after removing the temporary files of outputs in
// progress. Process-wide (it installs a SIGBUS handler): the CLI calls it once; a library host with
// its own SIGBUS handling leaves it alone. A bus error elsewhere keeps its default action.
void install_sigbus_guard(const char* program = "lorakit");

// A read-only memory mapping of a whole file. Move-only. An empty file maps to an empty span.
class MappedFile {
 public:
  static MappedFile open(const std::string& path);  // throws IoError
  MappedFile() = default;
  MappedFile(MappedFile&&) noexcept;
  MappedFile& operator=(MappedFile&&) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::string& path() const { return path_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  uint64_t size() const { return size_; }
  // Hint that [offset, offset+len) will be read soon, front to back (madvise WILLNEED/SEQUENTIAL).
  void advise_sequential(uint64_t offset, uint64_t len) const;
  // Tell the kernel the range is no longer needed so streaming reads don't pile up in RSS.
  void advise_done(uint64_t offset, uint64_t len) const;

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  uint64_t size_ = 0;
};

enum class FileFormat { Safetensors, Gguf };
std::string_view format_name(FileFormat f);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  // Logical shape in PyTorch order (outermost first). For GGUF this is the reversed `ne`, or the
  // `comfy.gguf.orig_shape.<name>` value when present.
  std::vector<uint64_t> shape;
  // Shape as stored, PyTorch order (reversed `ne` for GGUF; equal to `shape` for safetensors).
  // Quant blocks run along its last dimension.
  std::vector<uint64_t> storage_shape;
  uint64_t elements = 0;
  uint64_t nbytes = 0;
  uint64_t file_offset = 0;  // absolute offset of the first data byte in its file
  uint32_t file_index = 0;   // which file of a multi-file source holds it
};

// A tensor's bytes inside a mapping. Not necessarily aligned.
struct TensorView {
  const TensorInfo* info = nullptr;
  std::span<const std::byte> bytes;
};

// A GGUF metadata value. Arrays hold one element type (nested arrays are rejected on read).
struct GgufValue;
using GgufArray = std::vector<GgufValue>;
enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12
};
struct GgufValue {
  GgufType type = GgufType::U8;
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> value;
  GgufType array_type = GgufType::U8;  // element type when type == ARRAY
};
// Renders a value as compact JSON-like text (arrays longer than `max_items` are elided).
std::string to_string(const GgufValue& v, size_t max_items = 16);

// Metadata as (key, value) in file order. For safetensors every value is a string.
struct MetadataEntry {
  std::string key;
  GgufValue value;
};

// A set of named tensors backed by one or more mapped files. Thread-safe for concurrent reads.
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // The path the source was opened from (file, index.json or folder).
  virtual const std::string& path() const = 0;
  virtual FileFormat format() const = 0;
  // Tensors in file (data) order.
  virtual const std::vector<TensorInfo>& tensors() const = 0;
  // nullptr when absent.
  virtual const TensorInfo* find(std::string_view name) const = 0;
  // Throws InvalidArgument when absent.
  virtual TensorView view(std::string_view name) const = 0;
  virtual TensorView view(const TensorInfo& info) const = 0;
  virtual const std::vector<MetadataEntry>& metadata() const = 0;
  // The files that back the source (one for a single file).
  virtual std::vector<const MappedFile*> files() const = 0;
};

// Opens a file or folder and validates it completely (see ../shared/spec/file-formats.md):
//  - a GGUF file (magic "GGUF"),
//  - a safetensors file,
//  - a sharded safetensors model (`*.safetensors.index.json`),
//  - a diffusers folder (`model_index.json` + component folders); tensors are named
//    "<component>.<name>", e.g. "unet.down_blocks.0.resnets.0.conv1.weight",
//  - a folder holding one sharded index or safetensors file set (diffusers component folder).
// Throws FormatError (bad content) or IoError.
std::unique_ptr<TensorSource> open_tensor_source(const std::string& path);
std::unique_ptr<TensorSource> open_safetensors(const std::string& path);
std::unique_ptr<TensorSource> open_gguf(const std::string& path);

// ---------------------------------------------------------------------------------------------
// Writers. Both follow the same protocol: declare every tensor up front (so the header can be
// written first), then hand over each tensor's bytes — whole or in chunks, in any order — then
// commit(). Data goes to a temporary file in the destination's folder; commit() fsyncs it and
// renames it over the destination. Destroying a writer without a successful commit() removes the
// temporary file and leaves the destination untouched.

struct TensorDecl {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;  // PyTorch order
};

class SafetensorsWriter {
 public:
  // Canonical layout (spec §1.6). `metadata` is written byte-wise sorted; pass {"format","pt"} to
  // follow the PyTorch convention (the default when `metadata` is nullopt). An empty map writes no
  // __metadata__ key.
  SafetensorsWriter(std::string dest, std::vector<TensorDecl> tensors,
                    std::optional<std::map<std::string, std::string>> metadata = std::nullopt);
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Writes `data` at byte `offset` within tensor `name`. Thread-safe for disjoint ranges.
  void write(std::string_view name, std::span<const std::byte> data, uint64_t offset = 0);
  // Every byte of every tensor must have been written exactly once.
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class GgufWriter {
 public:
  // Version 3, KV pairs in the given order, tensors in the given order, offsets contiguous and
  // padded to `alignment` (a power of two; written as general.alignment only when it differs from
  // 32). general.quantization_version = 2 is added when any tensor is quantized and the key is not
  // given.
  GgufWriter(std::string dest, std::vector<MetadataEntry> kv, std::vector<TensorDecl> tensors,
             uint32_t alignment = 32);
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  void write(std::string_view name, std::span<const std::byte> data, uint64_t offset = 0);
  void commit();
  // Non-fatal findings about the declared content, e.g. tensor names longer than 63 bytes (stock
  // ggml cannot read them). Filled by the constructor; nothing is printed.
  const std::vector<std::string>& warnings() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lorakit::io
