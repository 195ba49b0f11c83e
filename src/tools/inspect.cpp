#include "tools/inspect.hpp"

#include <fmt/format.h>

#include "tools/text.hpp"

namespace lorakit::tools {

InspectResult inspect(const std::string& path) {
  auto src = io::open_tensor_source(path);
  InspectResult r;
  r.path = path;
  r.format = src->format();
  for (const auto* f : src->files()) {
    r.file_bytes += f->size();
    ++r.files;
  }
  r.tensors = src->tensors();
  r.metadata = src->metadata();
  for (const auto& t : r.tensors) {
    auto& h = r.histogram[t.dtype];
    ++h.tensors;
    h.parameters += t.elements;
    h.bytes += t.nbytes;
    ++r.tensor_count;
    r.parameters += t.elements;
    r.tensor_bytes += t.nbytes;
  }
  return r;
}

std::string shape_string(const std::vector<uint64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.2f} {}", v, units[u]);
}

namespace {

std::string value_text(const io::GgufValue& v) {
  if (v.type == io::GgufType::STRING) return std::get<std::string>(v.value);
  return io::to_string(v);
}

std::string cut(const std::string& s, size_t max_chars) {
  std::string one_line;
  one_line.reserve(std::min(s.size(), max_chars + 8));
  for (char c : s) {
    if (one_line.size() >= max_chars) break;
    one_line.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  }
  if (s.size() <= max_chars) return one_line;
  // Do not end inside a UTF-8 sequence.
  while (!one_line.empty() && (static_cast<unsigned char>(one_line.back()) & 0xC0) == 0x80)
    one_line.pop_back();
  if (!one_line.empty() && (static_cast<unsigned char>(one_line.back()) & 0x80))
    one_line.pop_back();
  return fmt::format("{}… ({} bytes)", one_line, s.size());
}

}  // namespace

std::string render_text(const InspectResult& r, bool with_tensors, size_t max_value_chars) {
  std::string out;
  append_line(out, "file:       {}", r.path);
  append_line(out, "format:     {}{}", io::format_name(r.format),
       r.files > 1 ? fmt::format(" ({} files)", r.files) : std::string());
  append_line(out, "size:       {} ({} bytes)", human_bytes(r.file_bytes), r.file_bytes);
  append_line(out, "tensors:    {}", r.tensor_count);
  append_line(out, "parameters: {}", r.parameters);
  append_line(out, "data:       {} ({} bytes)", human_bytes(r.tensor_bytes), r.tensor_bytes);
  append_line(out, "dtypes:");
  for (const auto& [dt, c] : r.histogram)
    append_line(out, "  {:<12} {:>8} tensors {:>16} parameters {:>14}", name(dt), c.tensors, c.parameters,
         human_bytes(c.bytes));
  append_line(out, "metadata:   {} entries", r.metadata.size());
  for (const auto& m : r.metadata) append_line(out, "  {} = {}", m.key, cut(value_text(m.value), max_value_chars));
  if (with_tensors) {
    append_line(out, "tensor list:");
    for (const auto& t : r.tensors)
      append_line(out, "  {}\t{}\t{}\t{}", t.name, name(t.dtype), shape_string(t.shape), t.nbytes);
  }
  return out;
}

namespace {

nlohmann::ordered_json value_json(const io::GgufValue& v) {
  using io::GgufType;
  switch (v.type) {
    case GgufType::STRING:
      return std::get<std::string>(v.value);
    case GgufType::BOOL:
      return std::get<bool>(v.value);
    case GgufType::F32:
    case GgufType::F64:
      return std::get<double>(v.value);
    case GgufType::I8:
    case GgufType::I16:
    case GgufType::I32:
    case GgufType::I64:
      return std::get<int64_t>(v.value);
    case GgufType::ARRAY: {
      auto arr = nlohmann::ordered_json::array();
      for (const auto& e : std::get<io::GgufArray>(v.value)) arr.push_back(value_json(e));
      return arr;
    }
    default:
      return std::get<uint64_t>(v.value);
  }
}

}  // namespace

nlohmann::ordered_json render_json(const InspectResult& r, bool with_tensors) {
  nlohmann::ordered_json j;
  j["path"] = r.path;
  j["format"] = std::string(io::format_name(r.format));
  j["files"] = r.files;
  j["file_bytes"] = r.file_bytes;
  j["tensor_count"] = r.tensor_count;
  j["parameters"] = r.parameters;
  j["tensor_bytes"] = r.tensor_bytes;
  auto& d = j["dtypes"] = nlohmann::ordered_json::object();
  for (const auto& [dt, c] : r.histogram)
    d[std::string(name(dt))] = {{"tensors", c.tensors}, {"parameters", c.parameters}, {"bytes", c.bytes}};
  auto& m = j["metadata"] = nlohmann::ordered_json::object();
  for (const auto& e : r.metadata) m[e.key] = value_json(e.value);
  if (with_tensors) {
    auto& ts = j["tensors"] = nlohmann::ordered_json::array();
    for (const auto& t : r.tensors)
      ts.push_back({{"name", t.name}, {"dtype", std::string(name(t.dtype))}, {"shape", t.shape},
                    {"bytes", t.nbytes}});
  }
  return j;
}

}  // namespace lorakit::tools
