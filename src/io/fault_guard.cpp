// SIGBUS on a mapped input — the file was truncated, or rewritten in place, by another program
// while lorakit read it — becomes a one-line error and exit status 2 instead of a crash, and the
// temporary files of outputs in progress are removed first, so nothing torn is left behind
// (lessons.md: bad input gets a clear error, never a crash). Everything the handler touches is
// fixed-size and lock-free; it calls only async-signal-safe functions (write, unlink, _exit).
#include "io/fault_guard.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "lorakit/io.hpp"

namespace lorakit::io {
namespace detail {
namespace {

constexpr size_t kPathBytes = 1024;

// Slot states: free → claimed (being filled or emptied) → ready.
enum : int { kFree = 0, kClaimed = 1, kReady = 2 };

struct MappingSlot {
  std::atomic<int> state{kFree};
  uintptr_t begin = 0, end = 0;
  char path[kPathBytes] = {};
};

struct TempSlot {
  std::atomic<int> state{kFree};
  char path[kPathBytes] = {};
};

MappingSlot g_mappings[256];
TempSlot g_temps[64];
char g_program[64] = "lorakit";

void copy_path(char* dst, const std::string& path) {
  const size_t n = std::min(path.size(), kPathBytes - 1);
  std::memcpy(dst, path.data(), n);
  dst[n] = '\0';
}

template <class Slot, class Fill>
void claim(Slot* slots, size_t count, Fill&& fill) {
  for (size_t i = 0; i < count; ++i) {
    int expected = kFree;
    if (slots[i].state.compare_exchange_strong(expected, kClaimed, std::memory_order_acquire)) {
      fill(slots[i]);
      slots[i].state.store(kReady, std::memory_order_release);
      return;
    }
  }
}

template <class Slot, class Match>
void release(Slot* slots, size_t count, Match&& match) {
  for (size_t i = 0; i < count; ++i) {
    int expected = kReady;
    if (slots[i].state.load(std::memory_order_acquire) != kReady || !match(slots[i])) continue;
    if (slots[i].state.compare_exchange_strong(expected, kClaimed, std::memory_order_acquire)) {
      slots[i].state.store(kFree, std::memory_order_release);
      return;
    }
  }
}

void say(const char* s) {
  size_t n = std::strlen(s);
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

void say_number(uint64_t v) {
  char buf[24];
  size_t i = sizeof(buf);
  buf[--i] = '\0';
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0 && i > 0);
  say(buf + i);
}

void on_sigbus(int sig, siginfo_t* info, void*) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  const MappingSlot* hit = nullptr;
  for (const auto& m : g_mappings)
    if (m.state.load(std::memory_order_acquire) == kReady && addr >= m.begin && addr < m.end) {
      hit = &m;
      break;
    }
  if (!hit) {
    // Not a mapped input: the default action (a core dump) is the honest report.
    ::signal(sig, SIG_DFL);
    return;
  }
  for (auto& t : g_temps)
    if (t.state.load(std::memory_order_acquire) == kReady) ::unlink(t.path);
  say(g_program);
  say(": error: ");
  say(hit->path);
  say(": ");
  say(kChangedWhileMapped);
  say(" (bus error at byte ");
  say_number(addr - hit->begin);
  say(" of ");
  say_number(hit->end - hit->begin);
  say("); outputs in progress were removed\n");
  ::_exit(2);
}

}  // namespace

void register_mapping(const void* base, size_t size, const std::string& path) noexcept {
  claim(g_mappings, std::size(g_mappings), [&](MappingSlot& s) {
    s.begin = reinterpret_cast<uintptr_t>(base);
    s.end = s.begin + size;
    copy_path(s.path, path);
  });
}

void unregister_mapping(const void* base) noexcept {
  const auto b = reinterpret_cast<uintptr_t>(base);
  release(g_mappings, std::size(g_mappings), [&](const MappingSlot& s) { return s.begin == b; });
}

void register_temp(const std::string& path) noexcept {
  claim(g_temps, std::size(g_temps), [&](TempSlot& s) { copy_path(s.path, path); });
}

std::string mapped_file_at(const void* p) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  for (const auto& m : g_mappings)
    if (m.state.load(std::memory_order_acquire) == kReady && addr >= m.begin && addr < m.end)
      return m.path;
  return {};
}

void unregister_temp(const std::string& path) noexcept {
  release(g_temps, std::size(g_temps), [&](const TempSlot& s) {
    return path.size() < kPathBytes && std::strcmp(s.path, path.c_str()) == 0;
  });
}

}  // namespace detail

void install_sigbus_guard(const char* program) {
  const size_t n = std::min(std::strlen(program), sizeof(detail::g_program) - 1);
  std::memcpy(detail::g_program, program, n);
  detail::g_program[n] = '\0';
  struct sigaction sa {};
  sa.sa_sigaction = detail::on_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, nullptr);
}

}  // namespace lorakit::io
