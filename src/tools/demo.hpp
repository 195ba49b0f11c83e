// `lorakit demo`: with no files of the user's, builds small SD1-, SDXL- and FLUX-layout models and
// a few adapters in a temporary folder, runs the scenarios S0–S4 through session::Session
// and checks each scenario's condition directly (bit-identity against a fresh session, base bytes,
// reference quantizer, refusal messages), independently of the test suite.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lorakit::tools {

struct DemoOptions {
  // Where to build the files; empty: a fresh folder under the system temp dir, removed at the end.
  // A given folder is created if needed and kept.
  std::string dir;
  // Progress lines ("building models", "S0 pass"), for a front end to show while it runs.
  std::function<void(const std::string&)> log;
};

struct ScenarioResult {
  std::string id;     // "S0" …
  std::string title;  // what it does, in a few words
  bool pass = false;
  double seconds = 0;
  std::string detail;  // what was checked, or why it failed
};

struct DemoResult {
  std::string dir;
  double setup_seconds = 0;  // building the models and adapters
  std::vector<ScenarioResult> scenarios;
  bool all_passed() const;
};

DemoResult demo(const DemoOptions& options = {});

std::string render_text(const DemoResult& r);
nlohmann::ordered_json render_json(const DemoResult& r);

}  // namespace lorakit::tools
