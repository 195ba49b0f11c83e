// The `lorakit` command line. Thin: parses arguments, calls a tool, prints its result as text or
// JSON. Exit status: 0 success, 1 "differs" (diff), 2 error (bad input, I/O, usage).
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <tbb/global_control.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include "cli/progress.hpp"
#include "lorakit/adapter.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "tools/bench.hpp"
#include "tools/check.hpp"
#include "tools/demo.hpp"
#include "tools/diff.hpp"
#include "tools/inspect.hpp"
#include "tools/merge.hpp"
#include "tools/quantize.hpp"
#include "tools/version.hpp"

namespace {

using nlohmann::ordered_json;

void print_json(const ordered_json& j) {
  // Invalid UTF-8 in a file's strings must not abort the report: replace it.
  fmt::print("{}\n", j.dump(2, ' ', false, ordered_json::error_handler_t::replace));
}

}  // namespace

int main(int argc, char** argv) {
  // An input truncated or rewritten while mapped: a clear error, not a crash (io.hpp).
  lorakit::io::install_sigbus_guard("lorakit");
  CLI::App app{"lorakit — LoRA-family adapters on diffusion-model weights", "lorakit"};
  app.set_version_flag("--version", std::string(lorakit::tools::version()));
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "Worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.fallthrough();  // --threads may also follow the subcommand

  // inspect
  auto* inspect =
      app.add_subcommand("inspect", "Show what a safetensors/GGUF file (or folder) holds");
  std::string inspect_file;
  bool inspect_json = false, inspect_tensors = false;
  inspect
      ->add_option("FILE", inspect_file,
                   "Model or adapter: .safetensors, .gguf, "
                   "*.safetensors.index.json or a diffusers folder")
      ->required();
  inspect->add_flag("--json", inspect_json, "Machine-readable output");
  inspect->add_flag("--tensors", inspect_tensors, "One line per tensor: name, dtype, shape, bytes");

  // quantize
  auto* quantize = app.add_subcommand(
      "quantize", "Re-encode every weight tensor of >= 2 dims to one type (float or ggml)");
  lorakit::tools::QuantizeOptions qopt;
  std::string qtype;
  bool fp8_cast = false;
  quantize->add_option("IN", qopt.input, "Input model")->required();
  quantize->add_option("-o,--output", qopt.output, "Output: .gguf, or .safetensors for float types")
      ->required();
  quantize
      ->add_option("--type", qtype,
                   "F32 F16 BF16 F8_E4M3 F8_E5M2 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K "
                   "Q5_K Q6_K")
      ->required();
  quantize->add_flag("--fp8-cast", fp8_cast,
                     "fp8 overflow as PyTorch's cast (NaN/inf) instead of saturating");

  // diff
  auto* diff = app.add_subcommand("diff",
                                  "Compare two models tensor by tensor by name "
                                  "(exit 0 identical, 1 different, 2 error)");
  std::string diff_a, diff_b;
  bool diff_json = false;
  diff->add_option("A", diff_a, "First model")->required();
  diff->add_option("B", diff_b, "Second model")->required();
  diff->add_flag("--json", diff_json, "Machine-readable output");

  // convert
  auto* conv = app.add_subcommand(
      "convert", "Rewrite an adapter in another naming family (factor bytes copied unchanged)");
  using lorakit::adapter::TargetFamily;
  const std::map<std::string, TargetFamily> families{{"kohya", TargetFamily::Kohya},
                                                     {"peft", TargetFamily::Peft},
                                                     {"diffusers", TargetFamily::Diffusers},
                                                     {"bfl", TargetFamily::Bfl}};
  std::string conv_in, conv_model, conv_arch, conv_out;
  TargetFamily conv_to = TargetFamily::Kohya;
  conv->add_option("ADAPTER", conv_in, "Adapter file")->required();
  conv->add_option("--to", conv_to, "kohya, peft, diffusers or bfl")
      ->required()
      ->transform(CLI::CheckedTransformer(families));
  auto* conv_m = conv->add_option("--model", conv_model, "Base model the adapter is bound to");
  conv->add_option("--arch", conv_arch, "Built-in layout instead of a model: sd1 sd2 sdxl sd3 flux")
      ->excludes(conv_m);
  conv->add_option("-o,--output", conv_out, "Output .safetensors")->required();
  // check
  auto* check = app.add_subcommand(
      "check",
      "How adapters bind to a model or a built-in layout (reads headers only; exit 0 all "
      "fully matched, 1 not, 2 error)");
  std::vector<std::string> check_args;
  std::string check_arch;
  bool check_strict = false, check_json = false;
  check
      ->add_option("FILES", check_args,
                   "MODEL ADAPTER[:STRENGTH]... (or only adapters with --arch)")
      ->required();
  check->add_option("--arch", check_arch,
                    "Use a built-in reference layout instead of a model file: "
                    "sd1 sd2 sdxl sd3 flux");
  check->add_flag("--strict", check_strict,
                  "Exit 1 also for unused, ambiguous, conflicting or duplicate keys");
  check->add_flag("--json", check_json, "Machine-readable output (docs/cli.md)");

  // merge
  auto* merge = app.add_subcommand(
      "merge", "Apply adapters to a model and write the result (streamed; atomic output)");
  lorakit::tools::MergeOptions mopt;
  std::vector<std::string> merge_adapters;
  std::string merge_dtype = "same", merge_policy = "requant", merge_rounding = "stochastic";
  bool merge_json = false;
  merge->add_option("MODEL", mopt.model_path, "Base model")->required();
  merge->add_option("-l,--lora", merge_adapters, "ADAPTER[:STRENGTH], applied in the given order")
      ->required();
  merge->add_option("-o,--output", mopt.output, "Output: .safetensors or .gguf")->required();
  merge->add_option("--dtype", merge_dtype,
                    "same (default), f32, f16, bf16, f8_e4m3, f8_e5m2 or a ggml type (.gguf)");
  merge->add_option("--quant-policy", merge_policy,
                    "Patched tensors of a ggml type: requant (default) or upcast:f16|bf16|q8_0");
  merge->add_option("--rounding", merge_rounding,
                    "fp8 targets: stochastic[:SEED] (default) or nearest");
  merge->add_flag("--json", merge_json, "Machine-readable output (docs/cli.md)");
  merge->add_flag("--strict", mopt.strict,
                  "Refuse adapters with anything check --strict would report");
  merge->add_flag("--force", mopt.force,
                  "Bind adapters even when they were trained for another architecture");

  // demo
  auto* demo = app.add_subcommand(
      "demo",
      "Build small models and adapters in a temp folder and run the session scenarios "
      "S0-S4 (exit 0 all pass, 1 not, 2 error)");
  std::string demo_dir;
  bool demo_json = false;
  demo->add_option("--dir", demo_dir,
                   "Build the files here and keep them (default: a temp folder)");
  demo->add_flag("--json", demo_json, "Machine-readable output");

  // bench
  auto* bench = app.add_subcommand(
      "bench",
      "Time merges and adapter switches on full-size synthetic models against this "
      "machine's memcpy + sgemm bound (exit 0; 1 when a workload's output check fails)");
  lorakit::tools::BenchOptions bopt;
  bool bench_json = false;
  bench->add_flag("--quick", bopt.quick,
                  "Reduced models and no FLUX BF16 (under a minute from an empty cache)");
  bench->add_flag("--json", bench_json, "Machine-readable output (docs/cli.md)");
  bench
      ->add_option("--workload", bopt.workloads,
                   fmt::format("Run only this workload (repeatable): {}",
                               fmt::join(lorakit::tools::bench_workload_names(), ", ")))
      ->take_all();
  bench->add_option("--cache", bopt.cache_dir,
                    "Folder of the synthesized inputs (default $XDG_CACHE_HOME/lorakit/bench)");
  bench->add_flag("--keep", bopt.keep, "Keep the merged output files (in the cache folder)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  std::optional<tbb::global_control> limit;
  if (threads > 0) limit.emplace(tbb::global_control::max_allowed_parallelism, threads);

  try {
    if (*inspect) {
      auto r = lorakit::tools::inspect(inspect_file);
      if (inspect_json)
        print_json(lorakit::tools::render_json(r, inspect_tensors));
      else
        fmt::print("{}", lorakit::tools::render_text(r, inspect_tensors));
      return 0;
    }
    if (*quantize) {
      auto t = lorakit::dtype_from_user_name(qtype);
      if (!t) throw lorakit::InvalidArgument("--type " + qtype + ": unknown type");
      qopt.type = *t;
      if (fp8_cast) qopt.encode.fp8_overflow = lorakit::codec::Fp8Overflow::Cast;
      lorakit::cli::ProgressBar bar("quantize");
      qopt.progress = [&](uint64_t done, uint64_t total) { bar.update(done, total); };
      auto r = lorakit::tools::quantize(qopt);
      bar.finish();
      fmt::print(
          "{}: {} tensors re-encoded to {}, {} kept their type; {:.2f} GB read, "
          "{:.2f} GB written in {:.2f} s ({:.2f} GB/s read)\n",
          qopt.output, r.converted, lorakit::name(qopt.type), r.kept.size(),
          static_cast<double>(r.input_bytes) / 1e9, static_cast<double>(r.output_bytes) / 1e9,
          r.seconds, r.seconds > 0 ? static_cast<double>(r.input_bytes) / 1e9 / r.seconds : 0.0);
      // 1-D tensors (biases, norms) and integer tensors are expected to stay: count them; list the
      // weights that could not be converted, which a user may not expect.
      size_t small = 0, non_float = 0;
      for (const auto& k : r.kept) {
        using lorakit::tools::KeepReason;
        if (k.why == KeepReason::FewerThan2Dims)
          ++small;
        else if (k.why == KeepReason::NotFloat)
          ++non_float;
        else
          fmt::print("  kept {} {}: {}\n", k.name, lorakit::name(k.dtype), k.reason);
      }
      if (small) fmt::print("  kept {} tensors with fewer than 2 dimensions\n", small);
      if (non_float) fmt::print("  kept {} non-float tensors\n", non_float);
      return 0;
    }
    if (*conv) {
      if (conv_model.empty() == conv_arch.empty())
        throw lorakit::InvalidArgument("convert: give --model MODEL or --arch NAME");
      const auto model = conv_model.empty() ? lorakit::model::ModelIndex::reference(conv_arch)
                                            : lorakit::model::ModelIndex::from_source(
                                                  *lorakit::io::open_tensor_source(conv_model));
      const auto a = lorakit::adapter::parse_file(conv_in, model);
      lorakit::adapter::convert(a, model, conv_to, conv_out);
      fmt::print("{}: {} records written\n", conv_out, a.modules.size());
      return 0;
    }
    if (*demo) {
      lorakit::tools::DemoOptions dopt;
      dopt.dir = demo_dir;
      if (::isatty(STDERR_FILENO) == 1)
        dopt.log = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
      auto r = lorakit::tools::demo(dopt);
      if (demo_json)
        print_json(lorakit::tools::render_json(r));
      else
        fmt::print("{}", lorakit::tools::render_text(r));
      return r.all_passed() ? 0 : 1;
    }
    if (*bench) {
      if (::isatty(STDERR_FILENO) == 1)
        bopt.log = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
      auto r = lorakit::tools::bench(bopt);
      if (bench_json)
        print_json(lorakit::tools::render_json(r));
      else
        fmt::print("{}", lorakit::tools::render_text(r));
      return r.all_verified() ? 0 : 1;
    }
    if (*merge) {
      for (const auto& a : merge_adapters)
        mopt.adapters.push_back(lorakit::tools::parse_adapter_arg(a));
      if (merge_dtype != "same") {
        auto t = lorakit::dtype_from_user_name(merge_dtype);
        if (!t) throw lorakit::InvalidArgument("--dtype " + merge_dtype + ": unknown type");
        mopt.patch.output_dtype = *t;
      }
      lorakit::patch::parse_quant_policy(merge_policy, mopt.patch);
      lorakit::patch::parse_rounding(merge_rounding, mopt.patch);
      lorakit::cli::ProgressBar bar("merge");
      mopt.progress = [&](uint64_t done, uint64_t total) { bar.update(done, total); };
      try {
        auto r = lorakit::tools::merge(mopt);
        bar.finish();
        if (merge_json)
          print_json(lorakit::tools::render_json(r));
        else
          fmt::print("{}", lorakit::tools::render_text(r));
      } catch (const lorakit::tools::MergeRefused& e) {
        // Show why, as check reports it, then the one-line error.
        if (merge_json) {
          auto j = lorakit::tools::render_json(e.check());
          j["refused"] = e.what();
          print_json(j);
        } else {
          fmt::print("{}", lorakit::tools::render_text(e.check()));
        }
        throw;
      }
      return 0;
    }
    if (*check) {
      lorakit::tools::CheckOptions copt;
      copt.arch = check_arch;
      size_t first = 0;
      if (check_arch.empty()) {
        copt.model_path = check_args.at(0);
        first = 1;
      }
      for (size_t i = first; i < check_args.size(); ++i)
        copt.adapters.push_back(lorakit::tools::parse_adapter_arg(check_args[i]));
      if (copt.adapters.empty()) throw lorakit::InvalidArgument("check: no adapter given");
      auto r = lorakit::tools::check(copt);
      if (check_json)
        print_json(lorakit::tools::render_json(r));
      else
        fmt::print("{}", lorakit::tools::render_text(r));
      for (const auto& a : r.adapters)
        if (check_strict ? !a.clean() : !a.fully_matched()) return 1;
      return 0;
    }
    if (*diff) {
      auto r = lorakit::tools::diff(diff_a, diff_b);
      if (diff_json)
        print_json(lorakit::tools::render_json(r));
      else
        fmt::print("{}", lorakit::tools::render_text(r));
      return r.same() ? 0 : 1;
    }
  } catch (const lorakit::Error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "lorakit: error: {}\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "lorakit: error: out of memory\n");
    return 2;
  }
  return 0;
}
