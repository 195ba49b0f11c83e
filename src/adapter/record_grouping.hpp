// Resolving adapter keys against the alias map (§5.1) and grouping them into records (§5.3): all
// keys whose accepted prefix is the same alias form one record. Keys that bind nowhere are grouped
// by their most specific reading so that the report can name their module prefix.
#pragma once

#include <string>
#include <vector>

#include "adapter/alias_map.hpp"
#include "adapter/suffixes.hpp"
#include "lorakit/adapter.hpp"
#include "lorakit/io.hpp"

namespace lorakit::adapter::detail {

struct KeyRef {
  const io::TensorInfo* info = nullptr;
  const Suffix* suffix = nullptr;
};

struct Record {
  enum class State {
    Bound,      // the prefix is an alias that accepts every key's suffix
    Unbound,    // no alias takes the prefix
    Ambiguous,  // the alias has two bindings, or a key reads as two different records
  };
  std::string prefix;
  State state = State::Unbound;
  const AliasEntry* alias = nullptr;  // Bound (and ambiguous aliases)
  std::vector<KeyRef> keys;           // file order
  std::string note;                   // why it is ambiguous
};

struct Grouping {
  std::vector<Record> records;  // in order of their first key
  std::vector<std::string>
      unused_keys;  // keys with no known suffix (or a suffix their alias refuses)
};

Grouping group_keys(const std::vector<io::TensorInfo>& tensors, const AliasMap& aliases);

// The type of a record from its set of suffixes (§5.3).
struct Typing {
  enum class Status { Ok, Conflict, Incomplete, Unsupported, Invalid };
  Status status = Status::Ok;
  Kind kind = Kind::LoRA;
  SuffixFamily lora_family = SuffixFamily::Generic;  // LoRA: the down/up family
  std::string reason;                                // for every status but Ok
};

Typing classify(const Record& r);

}  // namespace lorakit::adapter::detail
