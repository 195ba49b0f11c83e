// JSON text helpers shared by the safetensors reader, its writer and the loaders of sharded indexes
// and diffusers folders: UTF-8 validation, serde_json-compatible string escaping, and a strict
// parser for the small JSON side files (`*.safetensors.index.json`, `model_index.json`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace lorakit::io {

// Offset of the first byte where `s` stops being well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or std::string_view::npos when all of it is.
size_t find_invalid_utf8(std::string_view s);

// Appends `s` as a JSON string literal escaped exactly as serde_json does (file-formats.md §1.6
// item 4):
// `"` `\` and the C0 controls are escaped (\b \f \n \r \t, else \u00xx in lower-case hex);
// everything else, `/` and U+007F included, is copied raw.
void append_json_quoted(std::string& out, std::string_view s);
std::string json_quote(std::string_view s);

// Parses a whole JSON document strictly: RFC 8259 only (no comments, no BOM, no NUL, nothing but
// whitespace after the value) and no key twice in any object. Keys keep their file order. Throws
// FormatError(file, "bad_utf8" | "bad_json" | "duplicate_key", ...).
nlohmann::ordered_json parse_json_document(std::string_view text, const std::string& file);

// Reads a whole (small) file; a file larger than `limit` bytes is a FormatError "too_large". Throws
// IoError when it cannot be read.
std::string read_small_file(const std::string& path, uint64_t limit);

}  // namespace lorakit::io
