// The parsed-adapter cache of a session (lessons.md R3, R20): adapters identified by the xxHash of
// their file content together with the model's architecture (never by path), parsed once, kept in
// an LRU list bounded by file bytes. A (path, device, inode, size, mtime) → content-hash memo
// spares re-hashing a file that has not changed; a replaced or rewritten file misses the memo and
// is hashed again.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "lorakit/adapter.hpp"
#include "lorakit/model.hpp"

namespace lorakit::session::detail {

// XXH3 of the model facts that decide how an adapter binds (family, variant, layout, widths,
// components): the seed of every adapter identity on that model.
uint64_t architecture_seed(const model::ModelIndex& model);

// XXH3 over the bytes of every file of a source, in order.
uint64_t content_hash(const io::TensorSource& source);

// An adapter's identity on a model: its content hash mixed with the architecture seed.
uint64_t adapter_identity(uint64_t content, uint64_t arch_seed);

struct CachedAdapter {
  std::shared_ptr<const adapter::Adapter> adapter;
  uint64_t id = 0;
  bool from_cache = false;  // no parse in this call
};

struct CacheCounters {
  uint64_t parsed = 0, cached = 0, hashed = 0, evictions = 0;
};

// Not thread-safe: the session calls it under its switch lock.
class AdapterCache {
 public:
  explicit AdapterCache(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

  // The adapter at `path` parsed against `model` (arch seed `arch_seed`): from the cache when a
  // file with the same content was parsed for this model before, otherwise opened, hashed and
  // parsed. Does not insert: call insert() once the adapter has been accepted. Throws what opening
  // or parsing throws.
  CachedAdapter get(const std::string& path, const model::ModelIndex& model, uint64_t arch_seed);
  // Remembers an accepted adapter (most recently used); evicts least recently used entries beyond
  // the capacity. An adapter larger than the capacity is not kept.
  void insert(const CachedAdapter& a);
  // Drops every parsed adapter (a new model: bindings belong to the old one). The content-hash memo
  // stays: it does not depend on the model.
  void clear();

  const CacheCounters& counters() const { return counters_; }
  uint64_t bytes() const { return bytes_; }
  size_t size() const { return lru_.size(); }

 private:
  struct FileKey {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileKey&) const = default;
  };
  struct Memo {
    FileKey key;
    uint64_t content = 0;
  };
  struct Entry {
    uint64_t id = 0;
    uint64_t bytes = 0;
    std::shared_ptr<const adapter::Adapter> adapter;
  };

  static bool stat_file(const std::string& path, FileKey& key);
  static uint64_t file_bytes(const adapter::Adapter& a);

  uint64_t capacity_;
  uint64_t bytes_ = 0;
  std::list<Entry> lru_;  // front = most recently used
  std::unordered_map<uint64_t, std::list<Entry>::iterator> by_id_;
  std::unordered_map<std::string, Memo> memo_;
  CacheCounters counters_;
};

}  // namespace lorakit::session::detail
