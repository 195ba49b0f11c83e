// convert(): writing an adapter in another naming family (§7.2, §7.3, §9). Not implemented yet.
#include "lorakit/adapter.hpp"
#include "lorakit/error.hpp"

namespace lorakit::adapter {

void convert(const Adapter& a, const model::ModelIndex&, TargetFamily, const std::string&) {
  throw UnsupportedError(a.path + ": adapter conversion is not implemented yet");
}

}  // namespace lorakit::adapter
