// Built-in reference layouts (placeholder until the generated tables land).
#include "lorakit/error.hpp"
#include "lorakit/model.hpp"

namespace lorakit::model {

std::vector<std::string> ModelIndex::reference_names() {
  return {"sd1", "sd2", "sdxl", "sd3", "flux"};
}

ModelIndex ModelIndex::reference(std::string_view name) {
  throw InvalidArgument("reference layout \"" + std::string(name) + "\" is not built in yet");
}

}  // namespace lorakit::model
