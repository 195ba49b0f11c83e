// `lorakit bench`: the quick run works end to end (every quick workload present, times and ratios
// sane, outputs verified, a kept merged file equal to patch::apply's bytes), the cache is reused
// and rebuilt when a stamp differs, and the cost model counts what the plan computes. Never
// asserts how fast anything is.
#include "tools/bench.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lorakit/adapter.hpp"
#include "lorakit/patch.hpp"
#include "tools/bench_internal.hpp"
#include "tools/synth.hpp"
#include "tools/tool_fixtures.hpp"

namespace lorakit::testing {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<const adapter::Adapter> parsed(const std::string& path,
                                               const model::ModelIndex& index) {
  return std::make_shared<const adapter::Adapter>(adapter::parse_file(path, index));
}

TEST(BenchCli, QuickRunReportsEveryQuickWorkloadVerifiedAndReusesTheCache) {
  TempDir dir;
  const fs::path cache = dir / "cache";
  auto r =
      run_lorakit("bench --quick --json --keep --threads 2 --cache " + cache.string(), dir.path());
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["quick"].get<bool>());
  EXPECT_TRUE(j["all_verified"].get<bool>());
  EXPECT_GT(j["machine"]["threads"].get<int>(), 0);
  EXPECT_GT(j["machine"]["memcpy_gb_per_s_1"].get<double>(), 0);
  EXPECT_GT(j["machine"]["memcpy_gb_per_s_all"].get<double>(), 0);
  EXPECT_GT(j["machine"]["sgemm_gflops_all"].get<double>(), 0);
  EXPECT_FALSE(j["synthesized"].empty()) << "an empty cache is filled";

  const auto& names = tools::bench_quick_workload_names();
  ASSERT_EQ(j["workloads"].size(), names.size());
  std::string kept_sd1;
  for (size_t i = 0; i < names.size(); ++i) {
    const auto& w = j["workloads"][i];
    SCOPED_TRACE(names[i]);
    EXPECT_EQ(w["name"], names[i]);
    ASSERT_FALSE(w.contains("skipped")) << w["skipped"];
    EXPECT_TRUE(w["quick"].get<bool>());
    EXPECT_GE(w["reps"].get<int>(), 1);
    EXPECT_GT(w["seconds"].get<double>(), 0);
    EXPECT_LE(w["seconds"].get<double>(), w["first_seconds"].get<double>());
    EXPECT_TRUE(w["verified"].get<bool>()) << w["check"];
    EXPECT_GT(w["peak_rss"].get<uint64_t>(), 0u);
    if (names[i] == "check-flux-5") {
      EXPECT_TRUE(w["ratio"].is_null()) << "check reads headers only: no bound";
      continue;
    }
    EXPECT_GT(w["flops"].get<uint64_t>(), 0u);
    EXPECT_GT(w["read_bytes"].get<uint64_t>(), 0u);
    EXPECT_GT(w["written_bytes"].get<uint64_t>(), 0u);
    EXPECT_GT(w["bound_memory_s"].get<double>(), 0);
    EXPECT_GT(w["bound_sgemm_s"].get<double>(), 0);
    EXPECT_NEAR(w["bound_s"].get<double>(),
                w["bound_memory_s"].get<double>() + w["bound_sgemm_s"].get<double>(), 1e-12);
    ASSERT_TRUE(w["ratio"].is_number());
    const double ratio = w["ratio"].get<double>();
    EXPECT_TRUE(std::isfinite(ratio) && ratio > 0) << ratio;
    uint64_t shape_flops = 0;
    for (const auto& s : w["shapes"])
      shape_flops += 2 * s["rows"].get<uint64_t>() * s["cols"].get<uint64_t>() *
                     s["rank"].get<uint64_t>() * s["count"].get<uint64_t>();
    EXPECT_EQ(shape_flops, w["flops"].get<uint64_t>());
    if (names[i] == "merge-sd1-r32-file") kept_sd1 = w["output"].get<std::string>();
  }

  // The kept merged SD1 file, checked here independently of the bench's own verification: every
  // patched tensor equals patch::apply's bytes, every other tensor the source's.
  ASSERT_FALSE(kept_sd1.empty());
  const fs::path quick = cache / "quick";
  const auto base = io::open_tensor_source((quick / "sd1-f16.safetensors").string());
  const auto index = model::ModelIndex::from_source(*base);
  const auto plan =
      patch::make_plan(index, {{parsed((quick / "sd1-r32.safetensors").string(), index), 1.0f}});
  const auto merged = io::open_tensor_source(kept_sd1);
  ASSERT_FALSE(plan.units.empty());
  for (const auto* u : {&plan.units.front(), &plan.units.back()}) {
    for (const auto& t : patch::apply(plan, *u, *base, {}).tensors) {
      const auto got = merged->view(t.name).bytes;
      EXPECT_TRUE(std::equal(got.begin(), got.end(), t.bytes.begin(), t.bytes.end())) << t.name;
    }
  }
  for (const auto& info : base->tensors()) {
    if (plan.find(info.name)) continue;
    const auto a = base->view(info).bytes, b = merged->view(info.name).bytes;
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << info.name;
  }
  fs::remove(kept_sd1);

  // A second run reuses every input; a stamp that no longer matches rebuilds that input only.
  r = run_lorakit(
      "bench --quick --json --threads 2 --workload check-flux-5 --cache " + cache.string(),
      dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(r.out)["synthesized"].empty()) << r.out;
  {
    std::ofstream f(quick / "flux-r128.safetensors.stamp", std::ios::app);
    f << "changed\n";
  }
  r = run_lorakit(
      "bench --quick --json --threads 2 --workload check-flux-5 --cache " + cache.string(),
      dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto again = nlohmann::json::parse(r.out);
  ASSERT_EQ(again["synthesized"].size(), 1u) << again["synthesized"];
  EXPECT_EQ(again["synthesized"][0], "flux-r128.safetensors");
  EXPECT_TRUE(again["workloads"][0]["verified"].get<bool>());
}

TEST(BenchCli, UnknownWorkloadIsAnError) {
  TempDir dir;
  auto r = run_lorakit("bench --quick --workload merge-everything --cache " + dir.path().string(),
                       dir.path());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown workload 'merge-everything'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("merge-sd1-r32"), std::string::npos) << "names the known ones: " << r.err;
}

TEST(BenchCost, CountsTheTensorsFactorsAndProductsOfThePlan) {
  TempDir dir;
  const auto model = (dir / "m.safetensors").string(), lora = (dir / "l.safetensors").string();
  tools::SynthModelOptions m;
  m.include = {"input_blocks.1.1.transformer_blocks.0.attn",
               "input_blocks.1.1.transformer_blocks.0.ff", "input_blocks.1.1.proj_in"};
  tools::synth_model(m, model);
  const auto base = io::open_tensor_source(model);
  const auto index = model::ModelIndex::from_source(*base);
  tools::SynthAdapterOptions a;
  a.rank = 4;
  tools::synth_adapter(index, a, lora);

  const auto ad = parsed(lora, index);
  const auto plan = patch::make_plan(index, {{ad, 1.0f}});
  const auto cost =
      tools::bench_detail::plan_cost(plan, tools::bench_detail::all_units(plan), *base, {});
  // Expected, from the files alone: each record's target bytes, factors, 2·out·in·rank.
  uint64_t flops = 0, factors = 0, target_bytes = 0;
  for (const auto& mod : ad->modules) {
    const auto& down = *mod.factors.at("down").info;
    const auto& up = *mod.factors.at("up").info;
    uint64_t in = 1;
    for (size_t d = 1; d < down.shape.size(); ++d) in *= down.shape[d];
    flops += 2 * up.shape[0] * in * down.shape[0];
    factors += down.nbytes + up.nbytes;
    for (const auto& part : mod.target.parts) target_bytes += base->find(part.tensor)->nbytes;
  }
  const auto lora_src = io::open_tensor_source(lora);
  uint64_t alphas = 0;
  for (const auto& t : lora_src->tensors())
    if (t.name.ends_with(".alpha")) alphas += t.nbytes;
  EXPECT_GT(flops, 0u);
  EXPECT_EQ(cost.flops, flops);
  EXPECT_EQ(cost.tensors, ad->modules.size());  // one weight per record, no bias parts
  EXPECT_EQ(cost.tensor_read, target_bytes);
  EXPECT_EQ(cost.tensor_written, target_bytes);  // F16 stays F16
  EXPECT_EQ(cost.factor_read, factors);
  EXPECT_GT(alphas, 0u);
  uint64_t counted = 0;
  for (const auto& s : cost.shapes) counted += s.count;
  EXPECT_EQ(counted, ad->modules.size());

  // Switching to the same set changes nothing; a new strength changes every unit.
  EXPECT_TRUE(tools::bench_detail::changed_units(plan, plan).empty());
  const auto half = patch::make_plan(index, {{ad, 0.5f}});
  EXPECT_EQ(tools::bench_detail::changed_units(plan, half).size(), half.units.size());
  const auto none = patch::make_plan(index, {});
  EXPECT_EQ(tools::bench_detail::changed_units(none, plan).size(), plan.units.size());
}

}  // namespace
}  // namespace lorakit::testing
