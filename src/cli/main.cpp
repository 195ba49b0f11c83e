// The `lorakit` command line. Thin: parses arguments, calls a tool, prints its result.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/core.h>

#include "lorakit/error.hpp"
#include "tools/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"lorakit — LoRA-family adapters on diffusion-model weights", "lorakit"};
  app.set_version_flag("--version", std::string(lorakit::tools::version()));
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const lorakit::Error& e) {
    fmt::print(stderr, "lorakit: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
