// A one-line progress bar on stderr, drawn only when stderr is a terminal (never in logs or pipes).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lorakit::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  ~ProgressBar();
  // Redraws at most ten times a second.
  void update(uint64_t done, uint64_t total);
  void finish();

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace lorakit::cli
