#include "cli/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <fmt/core.h>

namespace lorakit::cli {

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)),
      enabled_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_(start_ - std::chrono::seconds(1)) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  const int width = 30;
  const int filled = static_cast<int>(frac * width);
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double gbps = secs > 0 ? static_cast<double>(done) / secs / 1e9 : 0.0;
  fmt::print(stderr, "\r{} [{}{}] {:3.0f}% {:.2f}/{:.2f} GB {:.2f} GB/s ", label_,
             std::string(filled, '#'), std::string(width - filled, ' '), frac * 100,
             static_cast<double>(done) / 1e9, static_cast<double>(total) / 1e9, gbps);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (drawn_) {
    fmt::print(stderr, "\n");
    drawn_ = false;
  }
}

}  // namespace lorakit::cli
