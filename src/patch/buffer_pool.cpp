// patch::BufferPool: spare output buffers matched by exact size. A session switching between
// adapters with the same targets asks for the same sizes again, so exact matching serves almost
// every request and never hands out more memory than asked for.
#include <utility>

#include "lorakit/patch.hpp"

namespace lorakit::patch {

ByteBuffer BufferPool::take(uint64_t bytes) {
  if (bytes >= kMinBytes) {
    std::lock_guard lock(mu_);
    if (auto it = spares_.find(bytes); it != spares_.end()) {
      ByteBuffer b = std::move(it->second.bytes);
      spares_.erase(it);
      total_ -= bytes;
      ++reused_;
      return b;
    }
  }
  ByteBuffer b;
  b.resize(bytes);
  return b;
}

void BufferPool::give(ByteBuffer&& b) {
  const uint64_t n = b.size();
  if (n < kMinBytes) return;
  ByteBuffer gone;  // freed outside the lock when refused
  std::lock_guard lock(mu_);
  if (limit_ != 0 && total_ + n > limit_) {
    gone = std::move(b);
    return;
  }
  spares_.emplace(n, Spare{std::move(b), false});
  total_ += n;
}

void BufferPool::age() {
  std::lock_guard lock(mu_);
  for (auto& [n, s] : spares_) s.old = true;
}

uint64_t BufferPool::drop_old() {
  std::multimap<uint64_t, Spare> gone;
  uint64_t freed = 0;
  {
    std::lock_guard lock(mu_);
    for (auto it = spares_.begin(); it != spares_.end();) {
      if (!it->second.old) {
        ++it;
        continue;
      }
      freed += it->first;
      auto next = std::next(it);
      gone.insert(spares_.extract(it));
      it = next;
    }
    total_ -= freed;
  }
  return freed;  // `gone` frees its buffers here, outside the lock
}

void BufferPool::clear() {
  std::multimap<uint64_t, Spare> gone;
  std::lock_guard lock(mu_);
  gone.swap(spares_);
  total_ = 0;
}

void BufferPool::set_limit(uint64_t bytes) {
  std::lock_guard lock(mu_);
  limit_ = bytes;
}

uint64_t BufferPool::spare_bytes() const {
  std::lock_guard lock(mu_);
  return total_;
}

uint64_t BufferPool::reused() const {
  std::lock_guard lock(mu_);
  return reused_;
}

}  // namespace lorakit::patch
