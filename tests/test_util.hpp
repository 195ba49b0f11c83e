// Helpers shared by the tests: where ../shared is, scratch folders, reading whole files.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace lorakit::testing {

// ../shared beside the checkout (CI has it there too).
inline std::filesystem::path shared_dir() { return LORAKIT_SHARED_DIR; }
inline std::filesystem::path testdata(const std::string& rel) {
  return shared_dir() / "testdata" / rel;
}

// A fresh empty folder, removed with its content when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

std::vector<std::byte> read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::vector<std::byte>& bytes);
void write_file(const std::filesystem::path& p, const std::string& bytes);

// Rows of a tab-separated manifest with one header line; each row split into columns.
std::vector<std::vector<std::string>> read_tsv(const std::filesystem::path& p);

}  // namespace lorakit::testing
