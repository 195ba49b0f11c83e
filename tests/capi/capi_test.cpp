// The C API (include/lorakit/lorakit.h), exercised through the C functions only: sessions, model
// switches, adapter sets, tensor handles, errors as status codes with a thread-local message.
// (Uses the session test corpus: build with LORAKIT_TEST_DIRS including "session".)
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "lorakit/lorakit.h"
#include "session/session_fixtures.hpp"

namespace lorakit::testing {
namespace {

struct SessionPtr {
  lorakit_session* s;
  explicit SessionPtr(const lorakit_options* o = nullptr) : s(lorakit_session_create(o)) {}
  ~SessionPtr() { lorakit_session_destroy(s); }
};

struct Read {
  std::string dtype;
  std::vector<size_t> shape;
  std::vector<unsigned char> bytes;
  bool patched = false;
  bool operator==(const Read& o) const {
    return dtype == o.dtype && shape == o.shape && bytes == o.bytes;
  }
};

Read read(lorakit_session* s, const char* name) {
  lorakit_tensor* t = nullptr;
  EXPECT_EQ(lorakit_read_tensor(s, name, &t), LORAKIT_OK) << lorakit_last_error();
  Read r;
  if (!t) return r;
  EXPECT_STREQ(lorakit_tensor_name_of(t), name);
  r.dtype = lorakit_tensor_dtype(t);
  r.shape.assign(lorakit_tensor_shape(t), lorakit_tensor_shape(t) + lorakit_tensor_ndim(t));
  const auto* p = static_cast<const unsigned char*>(lorakit_tensor_data(t));
  r.bytes.assign(p, p + lorakit_tensor_nbytes(t));
  r.patched = lorakit_tensor_patched(t) != 0;
  lorakit_tensor_release(t);
  return r;
}

std::map<std::string, Read> read_all(lorakit_session* s) {
  std::map<std::string, Read> out;
  const size_t n = lorakit_tensor_count(s);
  for (size_t i = 0; i < n; ++i) {
    const char* name = lorakit_tensor_name(s, i);
    EXPECT_NE(name, nullptr);
    if (name) out[name] = read(s, name);
  }
  return out;
}

std::map<std::string, Read> fresh_c(const std::string& model, std::vector<const char*> paths,
                                    std::vector<float> strengths) {
  SessionPtr s;
  EXPECT_EQ(lorakit_open_model(s.s, model.c_str()), LORAKIT_OK) << lorakit_last_error();
  EXPECT_EQ(lorakit_set_adapters(s.s, paths.data(), strengths.data(), paths.size(), nullptr),
            LORAKIT_OK)
      << lorakit_last_error();
  return read_all(s.s);
}

TEST(CApi, VersionAndDefaults) {
  EXPECT_STREQ(lorakit_version(), "0.1.0");
  lorakit_options o;
  std::memset(&o, 0xff, sizeof o);
  lorakit_options_init(&o);
  EXPECT_EQ(o.memory_budget, 0u);
  EXPECT_EQ(o.strict, 0);
  EXPECT_EQ(o.quant_policy, nullptr);
  SessionPtr s(&o);
  ASSERT_NE(s.s, nullptr);
  EXPECT_EQ(lorakit_tensor_count(s.s), 0u);
  EXPECT_EQ(lorakit_tensor_name(s.s, 0), nullptr);
}

TEST(CApi, SwitchesMatchFreshSessionsAndTheBase) {
  const auto& c = corpus();
  SessionPtr s;
  ASSERT_EQ(lorakit_open_model(s.s, c.sd1.c_str()), LORAKIT_OK) << lorakit_last_error();
  const auto base = read_all(s.s);
  ASSERT_FALSE(base.empty());
  for (const auto& [name, r] : base) EXPECT_FALSE(r.patched) << name;

  const char* paths[] = {c.sd1_loras[0].c_str(), c.sd1_loras[1].c_str()};
  const float strengths[] = {1.0f, -0.5f};
  lorakit_switch_info info;
  ASSERT_EQ(lorakit_set_adapters(s.s, paths, strengths, 2, &info), LORAKIT_OK)
      << lorakit_last_error();
  EXPECT_EQ(info.adapters_parsed, 2u);
  EXPECT_GT(info.recomputed, 0u);
  EXPECT_GT(lorakit_overlay_bytes(s.s), 0u);
  const auto patched = read_all(s.s);
  EXPECT_EQ(patched, fresh_c(c.sd1, {paths[0], paths[1]}, {1.0f, -0.5f}));
  size_t n_patched = 0;
  for (const auto& [name, r] : patched) n_patched += r.patched;
  EXPECT_EQ(n_patched, 7u);

  // A handle keeps its bytes across a switch and the session's destruction.
  lorakit_tensor* held = nullptr;
  ASSERT_EQ(lorakit_read_tensor(s.s, c.sd1_targets[0].c_str(), &held), LORAKIT_OK);
  const std::vector<unsigned char> copy(
      static_cast<const unsigned char*>(lorakit_tensor_data(held)),
      static_cast<const unsigned char*>(lorakit_tensor_data(held)) + lorakit_tensor_nbytes(held));

  ASSERT_EQ(lorakit_set_adapters(s.s, nullptr, nullptr, 0, &info), LORAKIT_OK);
  EXPECT_EQ(info.restored, 7u);
  EXPECT_EQ(read_all(s.s), base);
  EXPECT_EQ(lorakit_overlay_bytes(s.s), 0u);

  lorakit_session_destroy(s.s);
  s.s = nullptr;
  EXPECT_EQ(
      std::vector<unsigned char>(static_cast<const unsigned char*>(lorakit_tensor_data(held)),
                                 static_cast<const unsigned char*>(lorakit_tensor_data(held)) +
                                     lorakit_tensor_nbytes(held)),
      copy);
  lorakit_tensor_release(held);
}

TEST(CApi, ErrorsAreStatusCodesWithAThreadLocalMessage) {
  const auto& c = corpus();
  SessionPtr s;
  EXPECT_EQ(lorakit_open_model(s.s, (c.dir / "missing.safetensors").string().c_str()),
            LORAKIT_ERR_IO);
  EXPECT_NE(std::string(lorakit_last_error()).find("missing.safetensors"), std::string::npos);
  EXPECT_EQ(lorakit_open_model(nullptr, "x"), LORAKIT_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(lorakit_open_model(s.s, nullptr), LORAKIT_ERR_INVALID_ARGUMENT);

  lorakit_tensor* t = reinterpret_cast<lorakit_tensor*>(1);
  EXPECT_EQ(lorakit_read_tensor(s.s, "x", &t), LORAKIT_ERR_INVALID_ARGUMENT);  // no model
  EXPECT_EQ(t, nullptr);

  ASSERT_EQ(lorakit_open_model(s.s, c.sdxl.c_str()), LORAKIT_OK);
  EXPECT_EQ(lorakit_read_tensor(s.s, "no.such.tensor", &t), LORAKIT_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(lorakit_last_error()).find("no.such.tensor"), std::string::npos);

  const char* good[] = {c.sdxl_loras[0].c_str()};
  const float one[] = {1.0f};
  ASSERT_EQ(lorakit_set_adapters(s.s, good, one, 1, nullptr), LORAKIT_OK);
  const auto before = read_all(s.s);
  const char* bad[] = {c.sd1_loras[0].c_str()};
  EXPECT_EQ(lorakit_set_adapters(s.s, bad, one, 1, nullptr), LORAKIT_ERR_INVALID_ARGUMENT);
  const std::string msg = lorakit_last_error();
  EXPECT_NE(msg.find("trained for sd1 (cross-attention dim 768), model is sdxl (2048)"),
            std::string::npos)
      << msg;
  EXPECT_EQ(read_all(s.s), before);
  EXPECT_EQ(lorakit_set_adapters(s.s, nullptr, one, 1, nullptr), LORAKIT_ERR_INVALID_ARGUMENT);
  const char* null_path[] = {nullptr};
  EXPECT_EQ(lorakit_set_adapters(s.s, null_path, one, 1, nullptr), LORAKIT_ERR_INVALID_ARGUMENT);

  // Another thread has its own last error.
  std::string other = "unset";
  std::thread([&] { other = lorakit_last_error(); }).join();
  EXPECT_EQ(other, "");
  // Bad options fail creation with a message.
  lorakit_options o;
  lorakit_options_init(&o);
  o.quant_policy = "sideways";
  EXPECT_EQ(lorakit_session_create(&o), nullptr);
  EXPECT_NE(std::string(lorakit_last_error()).find("sideways"), std::string::npos);
}

TEST(CApi, RuntimePolicyOption) {
  const auto& c = corpus();
  lorakit_options o;
  lorakit_options_init(&o);
  o.quant_policy = "runtime";
  o.memory_budget = 1;
  SessionPtr s(&o);
  ASSERT_NE(s.s, nullptr) << lorakit_last_error();
  ASSERT_EQ(lorakit_open_model(s.s, c.sd1_q8.c_str()), LORAKIT_OK) << lorakit_last_error();
  const char* paths[] = {c.sd1_loras[0].c_str()};
  const float one[] = {1.0f};
  ASSERT_EQ(lorakit_set_adapters(s.s, paths, one, 1, nullptr), LORAKIT_OK) << lorakit_last_error();
  const Read q = read(s.s, c.sd1_targets[0].c_str());  // a Q8_0 linear: pristine at runtime
  EXPECT_EQ(q.dtype, "Q8_0");
  EXPECT_FALSE(q.patched);
  EXPECT_EQ(lorakit_overlay_bytes(s.s), 0u);
}

}  // namespace
}  // namespace lorakit::testing
