#include "tools/merge.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <numeric>
#include <optional>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "tools/quantize.hpp"
#include "tools/tensor_stream.hpp"
#include "tools/version.hpp"

namespace lorakit::tools {
namespace {

enum class OutFormat { Safetensors, Gguf };

OutFormat output_format(const std::string& path) {
  const auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".gguf") return OutFormat::Gguf;
  if (ext == ".safetensors") return OutFormat::Safetensors;
  throw InvalidArgument(path + ": output must end in .gguf or .safetensors");
}

bool is_block(DType t) { return traits(t).block_elements > 1 && traits(t).ggml_id >= 0; }

bool storable(DType t, OutFormat f) {
  return f == OutFormat::Gguf ? traits(t).ggml_id >= 0 : traits(t).in_safetensors;
}

// Keys that describe the layout of the file they sit in; the new file gets its own.
bool layout_key(const std::string& k) {
  return k == "general.alignment" || k == "general.quantization_version" ||
         k == "general.file_type" || k.starts_with("comfy.gguf.orig_shape.");
}

const std::vector<uint64_t>& stored_shape(const io::TensorInfo& t) {
  return t.storage_shape.empty() ? t.shape : t.storage_shape;
}

std::string file_hash(const io::TensorSource& src) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  for (const auto* f : src.files()) XXH3_64bits_update(st, f->bytes().data(), f->bytes().size());
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return fmt::format("{:016x}", h);
}

std::string policy_name(const patch::Options& o) {
  switch (o.quant_policy) {
    case patch::QuantPolicy::Requant:
      return "requant";
    case patch::QuantPolicy::Upcast:
      return fmt::format("upcast:{}", name(o.upcast_type));
    case patch::QuantPolicy::Runtime:
      return "runtime";
  }
  return "";
}

std::string rounding_name(const patch::Options& o) {
  return o.fp8_rounding == patch::Fp8Rounding::Nearest ? std::string("nearest")
                                                       : fmt::format("stochastic:{}", o.seed);
}

// One tensor of the output: its declaration and where its bytes come from.
struct OutTensor {
  const io::TensorInfo* info = nullptr;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;  // as declared (stored shape for a kept GGUF "shape fix")
  int64_t unit = -1;            // index into the plan's units, or -1: untouched
};

// The type and shape patch::apply will give a tensor of a unit (checked again when it comes back).
void predict_unit_tensor(OutTensor& o, const patch::Plan& plan, const patch::Unit& unit,
                         const patch::Options& opt) {
  const io::TensorInfo& info = *o.info;
  o.shape = info.shape;
  bool scale = false;
  for (const auto& [w, s] : unit.scale_of) scale |= s == info.name;
  if (scale || unit.scale_of.contains(info.name)) {
    o.dtype = info.dtype;
    return;
  }
  for (const auto& st : unit.steps) {
    const auto& mod = plan.entries[st.entry].adapter->modules[st.module];
    if (!mod.reshape_weight) continue;
    for (const auto& part : mod.target.parts)
      if (part.tensor == info.name) o.shape = *mod.reshape_weight;
  }
  o.dtype = patch::output_type(info, opt, true);
  const auto& judged = o.shape == info.shape ? stored_shape(info) : o.shape;
  if (is_block(o.dtype) &&
      (judged.size() < 2 || judged.back() % traits(o.dtype).block_elements != 0))
    o.dtype = (info.dtype == DType::F32 || info.dtype == DType::F64) ? DType::F32 : DType::F16;
}

DType untouched_type(const io::TensorInfo& info, const patch::Options& opt) {
  if (!traits(info.dtype).is_float || !codec::can_decode(info.dtype)) return info.dtype;
  const DType t = patch::output_type(info, opt, false);
  return codec::can_encode(t) ? t : info.dtype;
}

// Re-encodes `bytes` of type `from` (n elements, rows of `row`) into `to`.
std::vector<std::byte> reencode(DType from, DType to, std::span<const std::byte> bytes, uint64_t n,
                                uint64_t row) {
  std::vector<float> f(n);
  codec::decode(from, bytes.data(), f.data(), n);
  std::vector<std::byte> out(*bytes_for(to, n));
  if (is_block(to) && row && n % row == 0)
    codec::encode_rows(to, f.data(), out.data(), n / row, row);
  else
    codec::encode(to, f.data(), out.data(), n);
  return out;
}

struct Job {
  enum class Kind { Copy, Convert, Unit } kind = Kind::Copy;
  size_t out = 0;                // Copy / Convert: index into the output tensors
  uint64_t begin = 0, n = 0;     // Convert: element range
  uint32_t unit = 0;             // Unit: index into the plan
  uint64_t in_bytes = 0;         // source bytes this job reads (progress)
  std::vector<std::byte> bytes;  // Convert result
  patch::UnitOut result;         // Unit result
};

std::string refusal(const CheckedAdapter& c, const MergeOptions& opt) {
  const auto& r = c.adapter.report;
  const std::string file = std::filesystem::path(c.arg.path).filename().string();
  if (!r.compat_error.empty() && !opt.force) return r.compat_error;
  if (r.matched == 0)
    return fmt::format("{}: 0 of {} modules match the model{}", file, r.modules,
                       r.unmatched.empty() ? std::string()
                                           : fmt::format(" (first unmatched: {})", r.unmatched[0]));
  if (opt.strict && !c.clean()) {
    const uint64_t flagged = r.unmatched.size() + r.shape_mismatch.size() + r.unused_keys.size() +
                             r.ambiguous.size() + r.conflicts.size() + r.incomplete.size() +
                             r.unsupported.size() + r.duplicate_bindings.size() + r.overlaps.size();
    return fmt::format(
        "{}: --strict: {} of {} modules matched, {} findings (see lorakit check "
        "--strict)",
        file, r.matched, r.modules, flagged);
  }
  return {};
}

}  // namespace

MergeResult merge(const MergeOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const OutFormat fmt_out = output_format(opt.output);
  if (opt.adapters.empty()) throw InvalidArgument("merge: no adapter given (-l ADAPTER)");
  if (opt.patch.quant_policy == patch::QuantPolicy::Runtime)
    throw InvalidArgument(
        "merge: --quant-policy runtime leaves the weights untouched (it is for sessions); use "
        "requant or upcast:TYPE");
  if (opt.patch.output_dtype) {
    const DType t = *opt.patch.output_dtype;
    if (!traits(t).is_float || !codec::can_encode(t))
      throw InvalidArgument(fmt::format("--dtype {}: lorakit cannot encode this type", name(t)));
    if (!storable(t, fmt_out))
      throw InvalidArgument(fmt::format("{}: a {} file cannot hold {} tensors", opt.output,
                                        fmt_out == OutFormat::Gguf ? "GGUF" : "safetensors",
                                        name(t)));
  }
  {
    std::error_code ec;
    if (std::filesystem::exists(opt.output, ec) && std::filesystem::exists(opt.model_path, ec) &&
        std::filesystem::equivalent(opt.model_path, opt.output, ec))
      throw InvalidArgument(opt.output + ": output would overwrite the input");
  }

  std::shared_ptr<const io::TensorSource> src = io::open_tensor_source(opt.model_path);
  MergeResult res;
  res.check.model = model::ModelIndex::from_source(*src);
  res.output = opt.output;
  const model::ModelIndex& model = res.check.model;

  // Parse and bind every adapter; refuse the misfits before anything is written.
  adapter::ParseOptions popt;
  popt.force = opt.force;
  std::vector<std::string> refused;
  for (const auto& a : opt.adapters) {
    std::shared_ptr<const io::TensorSource> asrc = io::open_tensor_source(a.path);
    res.hashes.push_back(file_hash(*asrc));
    res.check.adapters.push_back({a, adapter::parse(asrc, model, popt)});
    if (auto why = refusal(res.check.adapters.back(), opt); !why.empty())
      refused.push_back(std::move(why));
  }
  if (!refused.empty())
    throw MergeRefused(fmt::format("merge refused: {}", fmt::join(refused, "; ")), res.check);

  std::vector<patch::AdapterEntry> entries;
  for (const auto& c : res.check.adapters)
    entries.push_back({std::make_shared<const adapter::Adapter>(c.adapter), c.arg.strength});
  const patch::Plan plan = patch::make_plan(model, std::move(entries));

  // Every output tensor, in the source's data order, declared up front.
  const auto& in = src->tensors();
  std::vector<OutTensor> outs(in.size());
  std::map<std::string, size_t, std::less<>> out_of;
  std::vector<io::MetadataEntry> shape_fix_kv;
  for (size_t i = 0; i < in.size(); ++i) {
    OutTensor& o = outs[i];
    o.info = &in[i];
    out_of.emplace(in[i].name, i);
    if (const auto it = plan.unit_of.find(in[i].name); it != plan.unit_of.end()) {
      o.unit = it->second;
      predict_unit_tensor(o, plan, plan.units[it->second], opt.patch);
    } else {
      o.dtype = untouched_type(in[i], opt.patch);
      o.shape = in[i].shape;
    }
    if (!storable(o.dtype, fmt_out))
      throw InvalidArgument(fmt::format(
          "{}: tensor \"{}\" would be {}, which a {} file cannot hold (choose --dtype)", opt.output,
          in[i].name, name(o.dtype), fmt_out == OutFormat::Gguf ? "GGUF" : "safetensors"));
    // A block-typed GGUF tensor stored in another shape than its logical one (ComfyUI-GGUF's shape
    // fix) keeps its stored shape and the orig_shape key.
    if (fmt_out == OutFormat::Gguf && is_block(o.dtype) && o.shape == in[i].shape &&
        stored_shape(in[i]) != in[i].shape) {
      o.shape = stored_shape(in[i]);
      io::GgufArray dims;
      for (uint64_t d : in[i].shape)
        dims.push_back(io::GgufValue{io::GgufType::I32, static_cast<int64_t>(d), {}});
      shape_fix_kv.push_back(
          {"comfy.gguf.orig_shape." + in[i].name,
           io::GgufValue{io::GgufType::ARRAY, std::move(dims), io::GgufType::I32}});
    }
  }

  // What was applied, recorded in the output's metadata.
  nlohmann::ordered_json record;
  record["lorakit"] = std::string(version());
  record["base"] = std::filesystem::path(opt.model_path).filename().string();
  nlohmann::ordered_json applied = nlohmann::ordered_json::array();
  for (size_t i = 0; i < res.check.adapters.size(); ++i) {
    const auto& c = res.check.adapters[i];
    applied.push_back({{"file", std::filesystem::path(c.arg.path).filename().string()},
                       {"xxh3_64", res.hashes[i]},
                       {"strength", c.arg.strength},
                       {"format", std::string(adapter::format_name(c.adapter.report.format))},
                       {"modules", c.adapter.report.matched}});
  }
  record["adapters"] = applied;
  record["dtype"] = opt.patch.output_dtype ? std::string(name(*opt.patch.output_dtype)) : "same";
  record["quant_policy"] = policy_name(opt.patch);
  record["rounding"] = rounding_name(opt.patch);
  std::optional<std::string> previous;
  for (const auto& m : src->metadata())
    if (m.key == "lorakit.merge" && m.value.type == io::GgufType::STRING)
      previous = std::get<std::string>(m.value.value);
  if (previous) record["previous"] = *previous;
  res.metadata = record.dump();

  std::vector<io::TensorDecl> decls;
  decls.reserve(outs.size());
  for (const auto& o : outs) decls.push_back({o.info->name, o.dtype, o.shape});
  std::optional<io::SafetensorsWriter> st;
  std::optional<io::GgufWriter> gg;
  if (fmt_out == OutFormat::Gguf) {
    std::vector<io::MetadataEntry> kv;
    std::optional<io::MetadataEntry> file_type;
    for (const auto& m : src->metadata()) {
      if (m.key == "lorakit.merge") continue;
      if (m.key == "general.file_type") file_type = m;
      if (!layout_key(m.key)) kv.push_back(m);
    }
    kv.insert(kv.end(), shape_fix_kv.begin(), shape_fix_kv.end());
    if (opt.patch.output_dtype) {
      if (auto ft = gguf_file_type(*opt.patch.output_dtype))
        kv.push_back({"general.file_type", io::GgufValue{io::GgufType::U32, uint64_t{*ft}, {}}});
    } else if (file_type && src->format() == io::FileFormat::Gguf) {
      kv.push_back(*file_type);
    }
    kv.push_back({"lorakit.merge", io::GgufValue{io::GgufType::STRING, res.metadata, {}}});
    gg.emplace(opt.output, std::move(kv), std::move(decls));
    // One line for what is usually a long list (tensor names over ggml's 63 bytes).
    const auto& w = gg->warnings();
    if (!w.empty())
      res.warnings.push_back(
          w.size() == 1 ? w[0]
                        : fmt::format("{} (and {} more GGUF writer warnings)", w[0], w.size() - 1));
  } else {
    std::map<std::string, std::string> meta;
    for (const auto& m : src->metadata()) {
      if (layout_key(m.key)) continue;
      meta[m.key] = m.value.type == io::GgufType::STRING ? std::get<std::string>(m.value.value)
                                                         : io::to_string(m.value, SIZE_MAX);
    }
    if (!meta.contains("format")) meta["format"] = "pt";
    meta["lorakit.merge"] = res.metadata;
    st.emplace(opt.output, std::move(decls), std::move(meta));
  }
  auto write = [&](const std::string& n, std::span<const std::byte> d, uint64_t off) {
    if (gg)
      gg->write(n, d, off);
    else
      st->write(n, d, off);
  };

  // The work list: one job per unit (at its first tensor in data order), one per untouched tensor
  // copied, and chunks of whole rows for untouched tensors that change type.
  std::vector<Job> jobs;
  std::vector<bool> unit_emitted(plan.units.size(), false);
  for (size_t i = 0; i < outs.size(); ++i) {
    const OutTensor& o = outs[i];
    const io::TensorInfo& info = *o.info;
    if (o.unit >= 0) {
      if (unit_emitted[o.unit]) continue;
      unit_emitted[o.unit] = true;
      Job j;
      j.kind = Job::Kind::Unit;
      j.unit = static_cast<uint32_t>(o.unit);
      for (const auto& t : plan.units[o.unit].tensors) j.in_bytes += src->find(t)->nbytes;
      jobs.push_back(std::move(j));
    } else if (o.dtype == info.dtype) {
      Job j;
      j.kind = Job::Kind::Copy;
      j.out = i;
      j.in_bytes = info.nbytes;
      jobs.push_back(std::move(j));
    } else {
      const uint64_t src_block = traits(info.dtype).block_elements;
      const uint64_t row = stored_shape(info).empty() ? 1 : stored_shape(info).back();
      const uint64_t granule = is_block(o.dtype) ? std::lcm(src_block, row) : src_block;
      const uint64_t chunk = chunk_elements(info.elements, granule);
      for (uint64_t b = 0; b < info.elements; b += chunk) {
        Job j;
        j.kind = Job::Kind::Convert;
        j.out = i;
        j.begin = b;
        j.n = std::min(chunk, info.elements - b);
        j.in_bytes = info.nbytes * j.n / std::max<uint64_t>(info.elements, 1);
        jobs.push_back(std::move(j));
      }
      if (info.elements == 0) {
        Job j;
        j.kind = Job::Kind::Convert;
        j.out = i;
        jobs.push_back(std::move(j));
      }
    }
  }

  uint64_t total = 0, done = 0;
  for (const auto& j : jobs) total += j.in_bytes;
  auto advise = [&](const io::TensorInfo& t, bool finished) {
    const auto* f = src->files()[t.file_index];
    if (finished)
      f->advise_done(t.file_offset, t.nbytes);
    else
      f->advise_sequential(t.file_offset, t.nbytes);
  };

  size_t next = 0;
  const int tokens = std::clamp(tbb::this_task_arena::max_concurrency(), 2, 4);
  tbb::parallel_pipeline(
      static_cast<size_t>(tokens),
      tbb::make_filter<void,
                       Job*>(tbb::filter_mode::serial_in_order, [&](tbb::flow_control& fc) -> Job* {
        if (next == jobs.size()) {
          fc.stop();
          return nullptr;
        }
        Job* j = &jobs[next++];
        if (j->kind == Job::Kind::Unit) {
          for (const auto& t : plan.units[j->unit].tensors) advise(*src->find(t), false);
        } else if (j->begin == 0) {
          advise(*outs[j->out].info, false);
        }
        return j;
      }) & tbb::make_filter<Job*, Job*>(tbb::filter_mode::parallel, [&](Job* j) -> Job* {
        if (j->kind == Job::Kind::Unit) {
          j->result = patch::apply(plan, plan.units[j->unit], *src, opt.patch);
          for (auto& t : j->result.tensors) {
            const auto it = out_of.find(t.name);
            if (it == out_of.end())
              throw Error(fmt::format("merge: patch returned unknown tensor \"{}\"", t.name));
            const OutTensor& o = outs[it->second];
            const uint64_t n = o.info->elements;
            if (t.dtype != o.dtype) {
              // A companion handed back in its source type: stored like the rest.
              const auto& shp = t.storage_shape.empty() ? t.shape : t.storage_shape;
              const auto re = reencode(t.dtype, o.dtype, t.bytes, n, shp.empty() ? 1 : shp.back());
              t.bytes.assign(re.begin(), re.end());
              t.dtype = o.dtype;
            }
            const auto want = bytes_for(o.dtype, [&] {
              uint64_t e = 1;
              for (uint64_t d : o.shape) e *= d;
              return e;
            }());
            if (!want || *want != t.bytes.size())
              throw Error(
                  fmt::format("merge: patched tensor \"{}\" came back with {} bytes, {} declared",
                              t.name, t.bytes.size(), want.value_or(0)));
          }
        } else if (j->kind == Job::Kind::Convert) {
          const OutTensor& o = outs[j->out];
          const io::TensorInfo& info = *o.info;
          if (j->n == 0) return j;
          std::vector<float> f(j->n);
          decode_range(src->view(info), j->begin, j->n, f.data());
          j->bytes.resize(*bytes_for(o.dtype, j->n));
          const uint64_t row = stored_shape(info).empty() ? 1 : stored_shape(info).back();
          try {
            if (is_block(o.dtype))
              codec::encode_rows(o.dtype, f.data(), j->bytes.data(), j->n / row, row);
            else
              codec::encode(o.dtype, f.data(), j->bytes.data(), j->n);
          } catch (const ValueError& e) {
            throw ValueError(fmt::format("{}: tensor \"{}\" (elements from {}): {}", opt.model_path,
                                         info.name, j->begin, e.what()));
          }
        }
        return j;
      }) & tbb::make_filter<Job*, void>(tbb::filter_mode::serial_in_order, [&](Job* j) {
        if (j->kind == Job::Kind::Unit) {
          ++res.units;
          for (auto& t : j->result.tensors) {
            if (!t.bytes.empty()) write(t.name, t.bytes, 0);
            res.output_bytes += t.bytes.size();
            if (t.patched) {
              ++res.patched;
              res.patched_tensors.push_back({t.name, t.dtype, t.stats});
            }
            advise(*src->find(t.name), true);
          }
          for (auto& w : j->result.warnings) res.warnings.push_back(std::move(w));
          j->result = {};
        } else if (j->kind == Job::Kind::Copy) {
          const io::TensorInfo& info = *outs[j->out].info;
          const auto view = src->view(info);
          const uint64_t piece = uint64_t{64} << 20;
          for (uint64_t off = 0; off < view.bytes.size(); off += piece)
            write(info.name,
                  view.bytes.subspan(off, std::min<uint64_t>(piece, view.bytes.size() - off)), off);
          res.output_bytes += view.bytes.size();
          ++res.copied;
          advise(info, true);
        } else {
          const OutTensor& o = outs[j->out];
          const auto& tr = traits(o.dtype);
          if (!j->bytes.empty())
            write(o.info->name, j->bytes, j->begin / tr.block_elements * tr.block_bytes);
          res.output_bytes += j->bytes.size();
          if (j->begin + j->n >= o.info->elements) {
            ++res.converted;
            advise(*o.info, true);
          }
          j->bytes = {};
        }
        res.input_bytes += j->in_bytes;
        done += j->in_bytes;
        if (opt.progress) opt.progress(done, total);
      }));
  if (gg)
    gg->commit();
  else
    st->commit();
  res.tensors = outs.size();
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

namespace {

bool lossy_type(DType t) { return is_block(t) || t == DType::F8_E4M3 || t == DType::F8_E5M2; }

struct RetentionSummary {
  uint64_t tensors = 0, saturated = 0;
  double min = 1, mean = 1, max_rel_error = 0;
};

// Over patched tensors stored in a block or fp8 type: the ‖ΔW‖²-weighted mean retention.
RetentionSummary retention(const MergeResult& r) {
  RetentionSummary s;
  double weight = 0, sum = 0;
  for (const auto& t : r.patched_tensors) {
    if (!lossy_type(t.dtype)) continue;
    ++s.tensors;
    s.saturated += t.stats.saturated;
    s.min = std::min(s.min, t.stats.retention);
    s.max_rel_error = std::max(s.max_rel_error, t.stats.rel_error);
    const double w = t.stats.delta_norm * t.stats.delta_norm;
    weight += w;
    sum += w * t.stats.retention;
  }
  if (weight > 0) s.mean = sum / weight;
  return s;
}

double gb(uint64_t b) { return static_cast<double>(b) / 1e9; }

}  // namespace

std::string render_text(const MergeResult& r) {
  std::string out = render_text(r.check);
  out += '\n';
  out += fmt::format("{}: {} tensors patched in {} units; {} copied, {} converted, {} in all\n",
                     r.output, r.patched, r.units, r.copied, r.converted, r.tensors);
  out += fmt::format("  {:.3f} GB read, {:.3f} GB written in {:.2f} s ({:.2f} GB/s)\n",
                     gb(r.input_bytes), gb(r.output_bytes), r.seconds,
                     r.seconds > 0 ? gb(r.input_bytes) / r.seconds : 0.0);
  const auto s = retention(r);
  if (s.tensors) {
    out += fmt::format(
        "  retention over {} quantized/fp8 patched tensors: min {:.4f}, mean {:.4f}, max relative "
        "error {:.4f}",
        s.tensors, s.min, s.mean, s.max_rel_error);
    if (s.saturated) out += fmt::format(", {} fp8 values saturated", s.saturated);
    out += '\n';
  }
  for (const auto& w : r.warnings) out += fmt::format("  warning: {}\n", w);
  return out;
}

nlohmann::ordered_json render_json(const MergeResult& r) {
  using J = nlohmann::ordered_json;
  J j = render_json(r.check);
  for (size_t i = 0; i < r.hashes.size() && i < j["adapters"].size(); ++i)
    j["adapters"][i]["xxh3_64"] = r.hashes[i];
  j["output"] = r.output;
  j["summary"] = {{"tensors", r.tensors},
                  {"patched", r.patched},
                  {"units", r.units},
                  {"copied", r.copied},
                  {"converted", r.converted},
                  {"input_bytes", r.input_bytes},
                  {"output_bytes", r.output_bytes},
                  {"seconds", r.seconds},
                  {"gb_per_s", r.seconds > 0 ? gb(r.input_bytes) / r.seconds : 0.0}};
  const auto s = retention(r);
  j["retention"] = {{"tensors", s.tensors},
                    {"min", s.min},
                    {"mean", s.mean},
                    {"max_rel_error", s.max_rel_error},
                    {"saturated", s.saturated}};
  J list = J::array();
  for (const auto& t : r.patched_tensors)
    list.push_back({{"name", t.name},
                    {"dtype", std::string(name(t.dtype))},
                    {"delta_norm", t.stats.delta_norm},
                    {"retention", t.stats.retention},
                    {"rel_error", t.stats.rel_error},
                    {"saturated", t.stats.saturated}});
  j["patched_tensors"] = std::move(list);
  j["metadata"] = {{"lorakit.merge", J::parse(r.metadata)}};
  j["warnings"] = r.warnings;
  return j;
}

}  // namespace lorakit::tools
