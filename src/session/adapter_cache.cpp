#include "session/adapter_cache.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "lorakit/io.hpp"

namespace lorakit::session::detail {

uint64_t architecture_seed(const model::ModelIndex& model) {
  const auto& a = model.arch();
  std::string facts =
      fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", model::family_name(a.family), a.variant,
                  model::layout_name(model.layout()), a.context_dim, a.hidden, a.depth,
                  a.single_depth, a.in_channels, a.unsupported, a.scaled_fp8 ? 1 : 0);
  for (const auto& c : model.components())
    facts += fmt::format("|{}:{}:{}:{}:{}", model::component_name(c.kind),
                         static_cast<int>(c.naming), c.prefix, c.width, c.depth);
  return XXH3_64bits(facts.data(), facts.size());
}

uint64_t content_hash(const io::TensorSource& source) {
  XXH3_state_t* st = XXH3_createState();
  if (!st) throw std::bad_alloc();
  XXH3_64bits_reset(st);
  for (const io::MappedFile* f : source.files()) {
    auto b = f->bytes();
    XXH3_64bits_update(st, b.data(), b.size());
  }
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

uint64_t adapter_identity(uint64_t content, uint64_t arch_seed) {
  return XXH3_64bits_withSeed(&content, sizeof content, arch_seed);
}

bool AdapterCache::stat_file(const std::string& path, FileKey& key) {
  struct stat s {};
  if (::stat(path.c_str(), &s) != 0 || !S_ISREG(s.st_mode)) return false;
  key.dev = static_cast<uint64_t>(s.st_dev);
  key.ino = static_cast<uint64_t>(s.st_ino);
  key.size = static_cast<uint64_t>(s.st_size);
  key.mtime_ns = static_cast<int64_t>(s.st_mtim.tv_sec) * 1000000000 + s.st_mtim.tv_nsec;
  return true;
}

uint64_t AdapterCache::file_bytes(const adapter::Adapter& a) {
  uint64_t n = 0;
  if (a.source)
    for (const io::MappedFile* f : a.source->files()) n += f->size();
  return n;
}

CachedAdapter AdapterCache::get(const std::string& path, const model::ModelIndex& model,
                                uint64_t arch_seed) {
  // Same content parsed before for this model: the adapter named by the request's own path.
  auto from_entry = [&](std::list<Entry>::iterator it, uint64_t id) {
    lru_.splice(lru_.begin(), lru_, it);
    ++counters_.cached;
    if (it->adapter->path == path) return CachedAdapter{it->adapter, id, true};
    auto copy = std::make_shared<adapter::Adapter>(*it->adapter);  // the factors stay shared
    copy->path = path;
    return CachedAdapter{std::move(copy), id, true};
  };

  FileKey before;
  const bool regular = stat_file(path, before);
  if (regular) {
    auto m = memo_.find(path);
    if (m != memo_.end() && m->second.key == before) {
      const uint64_t id = adapter_identity(m->second.content, arch_seed);
      if (auto it = by_id_.find(id); it != by_id_.end()) return from_entry(it->second, id);
    }
  }

  std::shared_ptr<const io::TensorSource> src = io::open_tensor_source(path);
  const uint64_t content = content_hash(*src);
  ++counters_.hashed;
  // Memoize only when the file did not change while it was opened and hashed.
  FileKey after;
  if (regular && stat_file(path, after) && after == before)
    memo_[path] = Memo{before, content};
  else
    memo_.erase(path);

  const uint64_t id = adapter_identity(content, arch_seed);
  if (auto it = by_id_.find(id); it != by_id_.end()) return from_entry(it->second, id);

  auto parsed = std::make_shared<const adapter::Adapter>(adapter::parse(src, model));
  ++counters_.parsed;
  return CachedAdapter{std::move(parsed), id, false};
}

void AdapterCache::insert(const CachedAdapter& a) {
  if (by_id_.count(a.id)) return;
  const uint64_t n = file_bytes(*a.adapter);
  if (n > capacity_) return;
  lru_.push_front(Entry{a.id, n, a.adapter});
  by_id_[a.id] = lru_.begin();
  bytes_ += n;
  while (bytes_ > capacity_ && !lru_.empty()) {
    const Entry& last = lru_.back();
    bytes_ -= last.bytes;
    by_id_.erase(last.id);
    lru_.pop_back();
    ++counters_.evictions;
  }
}

void AdapterCache::clear() {
  lru_.clear();
  by_id_.clear();
  bytes_ = 0;
}

}  // namespace lorakit::session::detail
