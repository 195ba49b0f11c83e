#include "adapter/key_grammar.hpp"

#include <string>

namespace lorakit::adapter::detail {

std::vector<Split> candidate_splits(std::string_view key) {
  std::vector<Split> out;
  for (const Suffix& s : all_suffixes()) {
    if (s.text.empty()) {
      out.push_back({key, &s});
      continue;
    }
    if (key.size() > s.text.size() && key.ends_with(s.text))
      out.push_back({key.substr(0, key.size() - s.text.size()), &s});
  }
  return out;
}

std::string flat(std::string_view dotted) {
  std::string s(dotted);
  for (char& c : s)
    if (c == '.') c = '_';
  return s;
}

}  // namespace lorakit::adapter::detail
