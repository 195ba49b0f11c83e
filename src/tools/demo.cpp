#include "tools/demo.hpp"

#include <fmt/format.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>

#include "lorakit/error.hpp"
#include "tools/demo_internal.hpp"

namespace lorakit::tools {
namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A fresh folder under the system temp dir, removed with its content when the guard dies.
struct TempFolder {
  std::filesystem::path path;
  bool remove = false;
  ~TempFolder() {
    std::error_code ec;
    if (remove) std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

bool DemoResult::all_passed() const {
  if (scenarios.empty()) return false;
  for (const auto& s : scenarios)
    if (!s.pass) return false;
  return true;
}

DemoResult demo(const DemoOptions& opt) {
  auto log = [&](const std::string& line) {
    if (opt.log) opt.log(line);
  };
  TempFolder folder;
  if (opt.dir.empty()) {
    std::string templ = (std::filesystem::temp_directory_path() / "lorakit-demo-XXXXXX").string();
    if (!::mkdtemp(templ.data())) throw IoError(templ + ": cannot create a temporary folder");
    folder.path = templ;
    folder.remove = true;
  } else {
    folder.path = opt.dir;
    std::filesystem::create_directories(folder.path);
  }

  DemoResult res;
  res.dir = folder.path.string();
  log(fmt::format("building models and adapters in {}", res.dir));
  auto t0 = std::chrono::steady_clock::now();
  const demo_detail::DemoFiles files = demo_detail::build_files(res.dir);
  res.setup_seconds = since(t0);

  using Fn = ScenarioResult (*)(const demo_detail::DemoFiles&);
  const std::pair<const char*, Fn> scenarios[] = {{"S0", demo_detail::s0_switching},
                                                  {"S1", demo_detail::s1_sdxl_sequence},
                                                  {"S2", demo_detail::s2_flux_partial},
                                                  {"S3", demo_detail::s3_quantized},
                                                  {"S4", demo_detail::s4_model_switch}};
  for (const auto& [id, fn] : scenarios) {
    t0 = std::chrono::steady_clock::now();
    ScenarioResult r;
    try {
      r = fn(files);
      r.pass = true;
    } catch (const std::exception& e) {
      r.id = id;
      r.pass = false;
      r.detail = e.what();
    }
    r.seconds = since(t0);
    log(fmt::format("{} {} ({:.2f} s)", r.id, r.pass ? "pass" : "FAIL", r.seconds));
    res.scenarios.push_back(std::move(r));
  }
  return res;
}

std::string render_text(const DemoResult& r) {
  std::string out;
  out +=
      fmt::format("lorakit demo: small SD1, SDXL and FLUX models and LoRAs built in {:.2f} s\n\n",
                  r.setup_seconds);
  size_t title = 8;
  for (const auto& s : r.scenarios) title = std::max(title, s.title.size());
  out += fmt::format("{:<4}  {:<{}}  {:<6}  {:>8}  {}\n", "", "scenario", title, "result", "time",
                     "checked");
  for (const auto& s : r.scenarios)
    out += fmt::format("{:<4}  {:<{}}  {:<6}  {:>6.2f} s  {}\n", s.id, s.title, title,
                       s.pass ? "pass" : "FAIL", s.seconds, s.detail);
  out += fmt::format("\n{}\n", r.all_passed() ? "all scenarios passed" : "SOME SCENARIOS FAILED");
  return out;
}

nlohmann::ordered_json render_json(const DemoResult& r) {
  nlohmann::ordered_json j;
  j["passed"] = r.all_passed();
  j["setup_seconds"] = r.setup_seconds;
  auto list = nlohmann::ordered_json::array();
  for (const auto& s : r.scenarios)
    list.push_back({{"id", s.id},
                    {"title", s.title},
                    {"pass", s.pass},
                    {"seconds", s.seconds},
                    {"detail", s.detail}});
  j["scenarios"] = std::move(list);
  return j;
}

}  // namespace lorakit::tools
