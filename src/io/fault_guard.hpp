// The registry behind io::install_sigbus_guard: which address ranges are mappings of which files,
// and which temporary output files exist, kept in fixed slots that a signal handler can read
// without locks or allocation.
#pragma once

#include <cstddef>
#include <string>

namespace lorakit::io::detail {

// Mappings and temporary files register themselves for their whole life. A full registry (more
// than its fixed number of slots) only costs the guard its detail: the message then names no file
// and that temporary file is not removed.
void register_mapping(const void* base, size_t size, const std::string& path) noexcept;
void unregister_mapping(const void* base) noexcept;
void register_temp(const std::string& path) noexcept;
// The file a registered mapping at `p` belongs to, or "" (not a registered mapping).
std::string mapped_file_at(const void* p);
// The message of an input that changed while mapped (shared by the guard and by writers whose
// source bytes became unreadable).
inline constexpr const char* kChangedWhileMapped =
    "the file changed while it was being read: it was truncated or rewritten in place by another "
    "program";
void unregister_temp(const std::string& path) noexcept;

}  // namespace lorakit::io::detail
