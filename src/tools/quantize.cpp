#include "tools/quantize.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <numeric>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "tools/tensor_stream.hpp"

namespace lorakit::tools {
namespace {

enum class OutFormat { Safetensors, Gguf };

OutFormat output_format(const std::string& path) {
  auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".gguf") return OutFormat::Gguf;
  if (ext == ".safetensors") return OutFormat::Safetensors;
  throw InvalidArgument(path + ": output must end in .gguf or .safetensors");
}

bool storable(DType t, OutFormat f) {
  return f == OutFormat::Gguf ? traits(t).ggml_id >= 0 : traits(t).in_safetensors;
}

// Keys that describe the layout of the file they sit in; a new file gets its own.
bool layout_key(const std::string& k) {
  return k == "general.alignment" || k == "general.quantization_version" ||
         k == "general.file_type" || k.rfind("comfy.gguf.orig_shape.", 0) == 0;
}

struct Plan {
  const io::TensorInfo* in;
  DType out;
};

}  // namespace

std::optional<uint32_t> gguf_file_type(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q4_1: return 3;
    case DType::Q8_0: return 7;
    case DType::Q5_0: return 8;
    case DType::Q5_1: return 9;
    case DType::Q2_K: return 10;
    case DType::Q3_K: return 11;  // Q3_K_S: every tensor Q3_K
    case DType::Q4_K: return 14;  // Q4_K_S
    case DType::Q5_K: return 16;  // Q5_K_S
    case DType::Q6_K: return 18;
    case DType::BF16: return 32;
    default: return std::nullopt;
  }
}

QuantizeResult quantize(const QuantizeOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const OutFormat fmt_out = output_format(opt.output);
  if (!codec::can_encode(opt.type))
    throw InvalidArgument(fmt::format("--type {}: lorakit cannot encode this type", name(opt.type)));
  if (!storable(opt.type, fmt_out))
    throw InvalidArgument(fmt::format("{}: a {} file cannot hold {} tensors", opt.output,
                                      fmt_out == OutFormat::Gguf ? "GGUF" : "safetensors",
                                      name(opt.type)));
  {
    std::error_code ec;
    if (std::filesystem::exists(opt.output, ec) && std::filesystem::exists(opt.input, ec) &&
        std::filesystem::equivalent(opt.input, opt.output, ec))
      throw InvalidArgument(opt.output + ": output would overwrite the input");
  }

  auto src = io::open_tensor_source(opt.input);
  QuantizeResult res;
  const uint32_t out_block = traits(opt.type).block_elements;

  std::vector<Plan> plan;
  std::vector<io::TensorDecl> decls;
  for (const auto& t : src->tensors()) {
    DType out = t.dtype;
    std::string why;
    KeepReason kind{};
    if (t.shape.size() < 2) {
      kind = KeepReason::FewerThan2Dims;
      why = "fewer than 2 dimensions";
    } else if (!traits(t.dtype).is_float) {
      kind = KeepReason::NotFloat;
      why = "not a float tensor";
    } else if (!codec::can_decode(t.dtype)) {
      kind = KeepReason::NoDecoder;
      why = fmt::format("lorakit cannot decode {}", name(t.dtype));
    } else if (t.shape.back() % out_block != 0) {
      kind = KeepReason::RowNotMultipleOfBlock;
      why = fmt::format("row length {} is not a multiple of {}'s block of {}", t.shape.back(),
                        name(opt.type), out_block);
    } else {
      out = opt.type;
    }
    if (out != opt.type) {
      if (!storable(t.dtype, fmt_out))
        throw UnsupportedError(fmt::format(
            "{}: tensor \"{}\" keeps its type {} ({}), which a {} file cannot hold", opt.input, t.name,
            name(t.dtype), why, fmt_out == OutFormat::Gguf ? "GGUF" : "safetensors"));
      res.kept.push_back({t.name, t.dtype, kind, why});
    } else {
      ++res.converted;
    }
    plan.push_back({&t, out});
    decls.push_back({t.name, out, t.shape});
  }
  std::vector<io::MetadataEntry> shape_fix_kv;
  for (size_t i = 0; i < plan.size(); ++i) {
    // A block-quantized tensor kept as it is, whose logical rows do not fit the block (ComfyUI-GGUF's
    // shape fix), keeps its stored shape and the orig_shape key that records the logical one.
    const auto& t = *plan[i].in;
    const auto& tr = traits(t.dtype);
    if (plan[i].out != t.dtype || tr.block_elements == 1 || t.shape.back() % tr.block_elements == 0)
      continue;
    decls[i].shape = t.storage_shape;
    io::GgufArray dims;
    for (uint64_t d : t.shape)
      dims.push_back(io::GgufValue{io::GgufType::I32, static_cast<int64_t>(d), {}});
    shape_fix_kv.push_back({"comfy.gguf.orig_shape." + t.name,
                            io::GgufValue{io::GgufType::ARRAY, std::move(dims), io::GgufType::I32}});
  }

  // Metadata: carried over; values that are not strings become their text form in safetensors.
  std::vector<io::MetadataEntry> kv;
  std::map<std::string, std::string> st_meta;
  for (const auto& m : src->metadata()) {
    if (layout_key(m.key)) continue;
    if (fmt_out == OutFormat::Gguf) {
      kv.push_back(m);
    } else {
      st_meta[m.key] = m.value.type == io::GgufType::STRING ? std::get<std::string>(m.value.value)
                                                             : io::to_string(m.value, SIZE_MAX);
    }
  }
  if (fmt_out == OutFormat::Gguf) {
    kv.insert(kv.end(), shape_fix_kv.begin(), shape_fix_kv.end());
    if (auto ft = gguf_file_type(opt.type))
      kv.push_back({"general.file_type", io::GgufValue{io::GgufType::U32, uint64_t{*ft}, {}}});
  } else if (st_meta.find("format") == st_meta.end()) {
    st_meta["format"] = "pt";
  }

  std::optional<io::SafetensorsWriter> st;
  std::optional<io::GgufWriter> gg;
  if (fmt_out == OutFormat::Gguf)
    gg.emplace(opt.output, kv, decls);
  else
    st.emplace(opt.output, decls, st_meta);
  auto write = [&](const std::string& n, std::span<const std::byte> d, uint64_t off) {
    if (gg)
      gg->write(n, d, off);
    else
      st->write(n, d, off);
  };

  uint64_t total = 0, done = 0;
  for (const auto& p : plan) total += p.in->nbytes;
  std::vector<float> f32;
  std::vector<std::byte> enc;
  for (const auto& p : plan) {
    const auto view = src->view(*p.in);
    const auto* file = src->files()[p.in->file_index];
    file->advise_sequential(p.in->file_offset, p.in->nbytes);
    res.input_bytes += p.in->nbytes;
    if (p.out == p.in->dtype) {
      // Pass-through in bounded pieces.
      const uint64_t piece = uint64_t{64} << 20;
      for (uint64_t off = 0; off < view.bytes.size(); off += piece)
        write(p.in->name, view.bytes.subspan(off, std::min<uint64_t>(piece, view.bytes.size() - off)),
              off);
      res.output_bytes += p.in->nbytes;
    } else {
      const uint64_t row = p.in->shape.back();
      const uint64_t granule = std::lcm<uint64_t>(traits(p.in->dtype).block_elements, row);
      const uint64_t chunk = chunk_elements(p.in->elements, granule);
      const auto& otr = traits(p.out);
      for (uint64_t begin = 0; begin < p.in->elements; begin += chunk) {
        const uint64_t n = std::min(chunk, p.in->elements - begin);
        f32.resize(n);
        enc.resize(n / otr.block_elements * otr.block_bytes);
        decode_range(view, begin, n, f32.data());
        try {
          codec::encode_rows(p.out, f32.data(), enc.data(), n / row, row, opt.encode);
        } catch (const ValueError& e) {
          throw ValueError(fmt::format("{}: tensor \"{}\" (elements from {}): {}", opt.input,
                                       p.in->name, begin, e.what()));
        }
        write(p.in->name, enc, begin / otr.block_elements * otr.block_bytes);
        res.output_bytes += enc.size();
        if (opt.progress)
          opt.progress(done + p.in->nbytes * (begin + n) / p.in->elements, total);
      }
    }
    file->advise_done(p.in->file_offset, p.in->nbytes);
    done += p.in->nbytes;
    if (opt.progress) opt.progress(done, total);
  }
  if (gg)
    gg->commit();
  else
    st->commit();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace lorakit::tools
