// Adapters a session refuses (lessons.md R5, R13–R15) and quantized bases (R9, R10): a refused
// set leaves the previous state in force; strict mode refuses any unbound record; under the runtime
// policy quantized weights read pristine and their factors come from runtime_patch.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "lorakit/session.hpp"
#include "session/session_fixtures.hpp"
#include "test_util.hpp"

namespace lorakit::testing {
namespace {

using session::Session;

const model::ModelIndex& sd1_index() {
  static const model::ModelIndex m =
      model::ModelIndex::from_source(*io::open_tensor_source(corpus().sd1));
  return m;
}

// The corpus adapters bind every record (the other tests rely on it).
TEST(SessionRefusal, CorpusAdaptersBindFully) {
  const auto& c = corpus();
  std::vector<std::pair<std::string, std::string>> all;
  for (const auto& a : c.sd1_loras) all.push_back({c.sd1, a});
  for (const auto& a : c.sdxl_loras) all.push_back({c.sdxl, a});
  for (const auto& a : c.flux_loras) all.push_back({c.flux, a});
  for (const auto& [model, path] : all) {
    SCOPED_TRACE(path);
    const auto m = model::ModelIndex::from_source(*io::open_tensor_source(model));
    const auto a = adapter::parse_file(path, m);
    EXPECT_TRUE(a.report.compat_error.empty()) << a.report.compat_error;
    EXPECT_GT(a.report.modules, 0u);
    EXPECT_EQ(a.report.matched, a.report.modules);
    EXPECT_TRUE(a.report.unmatched.empty());
    EXPECT_TRUE(a.report.shape_mismatch.empty());
  }
}

TEST(SessionRefusal, StrictRefusesUnmatchedRecordsWarnModeAppliesTheRest) {
  const auto& c = corpus();
  TempDir dir;
  const std::string partial = (dir / "partial.safetensors").string();
  write_kohya_lora(sd1_index(), {c.sd1_targets[0]}, partial, 7, 4, 2.0f, DType::F32,
                   {"lora_unet_no_such_block_attn1_to_q"});

  Session warn;
  warn.open_model(c.sd1);
  const auto r = warn.set_adapters({{partial, 1}});
  ASSERT_EQ(r.reports.size(), 1u);
  EXPECT_EQ(r.reports[0].matched, 1u);
  EXPECT_EQ(r.reports[0].unmatched.size(), 1u);
  EXPECT_EQ(r.recomputed, 1u);

  session::SessionOptions o;
  o.strict = true;
  Session strict(o);
  strict.open_model(c.sd1);
  strict.set_adapters({{c.sd1_loras[0], 1}});  // a clean adapter is fine
  const Snapshot before = snapshot(strict);
  try {
    strict.set_adapters({{partial, 1}});
    ADD_FAILURE() << "strict mode accepted an unmatched record";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("partial.safetensors: strict mode: 1 of 2 modules match"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("1 unmatched (lora_unet_no_such_block_attn1_to_q)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(strict.active().size(), 1u);
  EXPECT_EQ(differing(snapshot(strict), before), "");
}

TEST(SessionRefusal, AdapterBindingNothingIsRefusedInEveryMode) {
  const auto& c = corpus();
  TempDir dir;
  const std::string none = (dir / "nothing.safetensors").string();
  write_kohya_lora(sd1_index(), {}, none, 8, 4, 2.0f, DType::F32,
                   {"lora_unet_no_such_block_attn1_to_q", "lora_unet_another_missing_layer"});
  Session s;
  s.open_model(c.sd1);
  s.set_adapters({{c.sd1_loras[1], 1}});
  const Snapshot before = snapshot(s);
  try {
    s.set_adapters({{c.sd1_loras[0], 1}, {none, 1}});
    ADD_FAILURE() << "an adapter binding nothing was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(
        std::string(e.what()).find("nothing.safetensors: 0 of 2 modules match the model (sd1)"),
        std::string::npos)
        << e.what();
  }
  EXPECT_EQ(s.active(), (std::vector<session::AdapterRequest>{{c.sd1_loras[1], 1}}));
  EXPECT_EQ(differing(snapshot(s), before), "");
}

TEST(SessionRefusal, BadRequestsLeaveTheStateInForce) {
  const auto& c = corpus();
  Session s;
  s.open_model(c.sd1);
  s.set_adapters({{c.sd1_loras[0], 1}});
  const Snapshot before = snapshot(s);
  EXPECT_THROW(s.set_adapters({{c.sd1_loras[1], std::numeric_limits<float>::quiet_NaN()}}),
               InvalidArgument);
  EXPECT_THROW(s.set_adapters({{c.sd1_loras[1], INFINITY}}), InvalidArgument);
  EXPECT_THROW(s.set_adapters({{c.sd1_loras[1], 1}, {(c.dir / "missing.safetensors").string(), 1}}),
               Error);
  EXPECT_THROW(s.set_adapters({{c.sd1, 1}}), Error);  // a model is not an adapter
  EXPECT_THROW(s.read("no.such.tensor"), InvalidArgument);
  EXPECT_EQ(s.active().size(), 1u);
  EXPECT_EQ(differing(snapshot(s), before), "");
}

TEST(SessionQuantized, RuntimePolicyLeavesQuantizedWeightsPristine) {
  const auto& c = corpus();
  const Snapshot base = pristine(c.sd1_q8);
  session::SessionOptions o;
  o.patch.quant_policy = patch::QuantPolicy::Runtime;
  Session s(o);
  s.open_model(c.sd1_q8);
  // B touches three Q8_0 linears and the F16 1×1 conv proj_in.
  s.set_adapters({{c.sd1_loras[1], 1}});
  const std::string tb = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.";
  const std::string q = tb + "attn1.to_q.weight";
  const session::Tensor t = s.read(q);
  EXPECT_EQ(t.dtype, DType::Q8_0);
  EXPECT_FALSE(t.patched);
  EXPECT_EQ(std::vector<std::byte>(t.bytes.begin(), t.bytes.end()), base.at(q).bytes);
  const auto rt = s.runtime_patch(q);
  ASSERT_EQ(rt.size(), 1u);
  EXPECT_EQ(rt[0].tensor, q);
  EXPECT_EQ(rt[0].out, 320u);
  EXPECT_EQ(rt[0].in, 320u);
  ASSERT_EQ(rt[0].low_rank.size(), 1u);
  EXPECT_EQ(rt[0].low_rank[0].rank, 4u);

  const std::string proj_in = "model.diffusion_model.input_blocks.1.1.proj_in.weight";
  const session::Tensor p = s.read(proj_in);
  EXPECT_EQ(p.dtype, DType::F16);
  EXPECT_TRUE(p.patched);
  EXPECT_TRUE(s.runtime_patch(proj_in).empty());
  EXPECT_TRUE(s.runtime_patch(tb + "attn1.to_k.weight").empty());  // not touched by B

  EXPECT_EQ(differing(snapshot(s), fresh(c.sd1_q8, {{c.sd1_loras[1], 1}}, o)), "");
  s.set_adapters({});
  EXPECT_TRUE(s.runtime_patch(q).empty());
  EXPECT_EQ(differing(snapshot(s), base), "");
}

TEST(SessionQuantized, RequantAndUpcastPoliciesPatchQuantizedWeights) {
  const auto& c = corpus();
  const std::string q =
      "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight";
  for (auto policy : {patch::QuantPolicy::Requant, patch::QuantPolicy::Upcast}) {
    SCOPED_TRACE(static_cast<int>(policy));
    session::SessionOptions o;
    o.patch.quant_policy = policy;
    Session s(o);
    s.open_model(c.sd1_q8);
    s.set_adapters({{c.sd1_loras[0], 1}, {c.sd1_loras[3], 0.5f}});
    const session::Tensor t = s.read(q);
    EXPECT_TRUE(t.patched);
    EXPECT_EQ(t.dtype, policy == patch::QuantPolicy::Requant ? DType::Q8_0 : DType::F16);
    EXPECT_TRUE(s.runtime_patch(q).empty());
    EXPECT_EQ(differing(snapshot(s), fresh(c.sd1_q8, s.active(), o)), "");
    s.set_adapters({});
    EXPECT_EQ(differing(snapshot(s), pristine(c.sd1_q8)), "");
  }
}

}  // namespace
}  // namespace lorakit::testing
