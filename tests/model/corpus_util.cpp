// Corpus list readers (see corpus_util.hpp).
#include "model/corpus_util.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "test_util.hpp"

namespace lorakit::testing {

std::filesystem::path corpus_path(const std::string& name) {
  return shared_dir() / "corpus" / name;
}

namespace {

std::vector<uint64_t> parse_shape(const std::string& s, bool& known) {
  known = s != "?";
  std::vector<uint64_t> shape;
  if (!known) return shape;
  if (s.size() < 2 || s.front() != '[' || s.back() != ']')
    throw std::runtime_error("bad shape in corpus list: " + s);
  std::stringstream in(s.substr(1, s.size() - 2));
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t b = item.find_first_not_of(' ');
    if (b == std::string::npos) continue;
    item = item.substr(b);
    shape.push_back(item == "-1" ? kAnyDim : std::stoull(item));
  }
  return shape;
}

}  // namespace

KeyList read_key_list(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) throw std::runtime_error("cannot open " + p.string());
  KeyList out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    size_t tab = line.find('\t');
    if (tab == std::string::npos) throw std::runtime_error("no tab in " + p.string() + ": " + line);
    bool known = true;
    model::TensorMeta t;
    t.name = line.substr(0, tab);
    t.shape = parse_shape(line.substr(tab + 1), known);
    if (!known) ++out.unknown_shapes;
    out.tensors.push_back(std::move(t));
  }
  return out;
}

std::vector<model::TensorMeta> corpus_tensors(const std::string& name) {
  return read_key_list(corpus_path(name)).tensors;
}

std::vector<std::pair<std::string, std::string>> read_mapping(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) throw std::runtime_error("cannot open " + p.string());
  std::vector<std::pair<std::string, std::string>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    out.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return out;
}

model::ModelIndex corpus_model(const std::string& name) {
  return model::ModelIndex::from_tensors("corpus:" + name, corpus_tensors(name));
}

}  // namespace lorakit::testing
