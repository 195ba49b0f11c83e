// The immutable state a Session publishes (architecture.md "session"): the open model, the active
// set, its plan and one overlay slot per patched unit. A switch builds a whole new State and swaps
// the pointer; readers keep the State they started with until they are done.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lorakit/io.hpp"
#include "lorakit/model.hpp"
#include "lorakit/patch.hpp"
#include "lorakit/session.hpp"

namespace lorakit::session::detail {

// One opened base model (a generation: everything derived from it dies with it).
struct ModelCtx {
  uint64_t generation = 0;
  std::shared_ptr<const io::TensorSource> source;
  model::ModelIndex index;
  uint64_t arch_seed = 0;          // part of every adapter identity on this model
  std::vector<std::string> names;  // tensors in file order
};

// One record application in a unit's signature: the adapter's identity (content + architecture, not
// its position in the set or its path), the module index within it and the strength's bits.
struct StepKey {
  uint64_t adapter = 0;
  uint32_t module = 0;
  uint32_t strength_bits = 0;
  bool operator==(const StepKey&) const = default;
};

// The overlay entry of one unit. Everything but `out` is fixed once the State is published; `out`
// (null = evicted by the memory budget) is read and written under the session's state mutex.
struct Slot {
  std::vector<std::string> tensors;  // the unit's tensors (part of the signature)
  std::vector<StepKey> steps;        // the signature proper, in application order
  uint64_t predicted = 0;            // bytes of the unit's tensors in their output types
  std::vector<uint8_t> patched;      // per unit tensor: changed by the unit (else read pristine)
  uint64_t bytes = 0;                // overlay bytes of the patched tensors
  uint64_t patched_count = 0;
  std::shared_ptr<const patch::UnitOut> out;

  bool same_signature(const Slot& o) const { return tensors == o.tensors && steps == o.steps; }
};

struct State {
  std::shared_ptr<const ModelCtx> model;  // null before the first open_model
  std::vector<AdapterRequest> active;
  std::vector<uint64_t> ids;                 // adapter identity per plan entry
  std::shared_ptr<const patch::Plan> plan;   // null when the set is empty
  std::vector<std::shared_ptr<Slot>> slots;  // per plan unit; null: stays pristine
  std::vector<uint8_t> runtime;              // per plan unit: patched by the host (runtime policy)

  // The unit index of a tensor, or -1.
  int64_t unit_index(std::string_view tensor) const {
    if (!plan) return -1;
    const patch::Unit* u = plan->find(tensor);
    return u ? static_cast<int64_t>(u - plan->units.data()) : -1;
  }
};

}  // namespace lorakit::session::detail
