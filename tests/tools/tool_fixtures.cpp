#include "tools/tool_fixtures.hpp"

#include <sys/wait.h>

#include <cstdlib>

namespace lorakit::testing {

CommandResult run_lorakit(const std::string& args, const std::filesystem::path& dir,
                          const std::string& setup) {
  const auto out = dir / "cmd.stdout", err = dir / "cmd.stderr";
  const std::string cmd = (setup.empty() ? "" : setup + "; ") + std::string(LORAKIT_BINARY) + " " +
                          args + " >" + out.string() + " 2>" + err.string() + " </dev/null";
  int rc = std::system(cmd.c_str());
  CommandResult r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  auto to_string = [](const std::vector<std::byte>& b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  };
  r.out = to_string(read_file(out));
  r.err = to_string(read_file(err));
  return r;
}

}  // namespace lorakit::testing
