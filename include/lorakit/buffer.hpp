// Byte buffers that are not zero-filled when sized: patched tensors are written in full right after
// allocation, so zeroing them first would be a wasted pass over every output byte. Storage is
// aligned to a cache line, so that SIMD writers can use aligned (non-temporal) stores.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace lorakit {

// std::allocator whose value-initialisation (vector::resize, the size constructor) leaves trivial
// elements uninitialised; explicit values (assign(n, v), insert, push_back) are stored as given.
template <class T>
struct UninitializedAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() = default;
  template <class U>
  UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}

  static constexpr std::align_val_t kAlignment{64};
  T* allocate(std::size_t n) {
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(::operator new(n * sizeof(T), kAlignment));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, kAlignment); }

  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;  // default-, not value-initialisation
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

// Sized with resize(n): contents unspecified until written.
using ByteBuffer = std::vector<std::byte, UninitializedAllocator<std::byte>>;

// Contents compare with a plain byte vector (found by argument-dependent lookup).
inline bool operator==(const ByteBuffer& a, const std::vector<std::byte>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace lorakit
