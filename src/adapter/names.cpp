// Printable names of the adapter enums (the format labels of lora-formats.md §4.2 and the adapter
// types of §8).
#include "lorakit/adapter.hpp"

namespace lorakit::adapter {

std::string_view format_name(Format f) {
  switch (f) {
    case Format::Unknown:
      return "unknown";
    case Format::BflControl:
      return "bfl-control";
    case Format::XLabs:
      return "xlabs";
    case Format::PeftRaw:
      return "peft-raw";
    case Format::SimpleTunerLycoris:
      return "simpletuner-lycoris";
    case Format::OneTrainer:
      return "onetrainer";
    case Format::Kohya:
      return "kohya";
    case Format::Lycoris:
      return "lycoris";
    case Format::DiffusersProcessor:
      return "diffusers-processor";
    case Format::DiffusersNonPeft:
      return "diffusers";
    case Format::Peft:
      return "peft";
    case Format::ComfyGeneric:
      return "comfyui";
  }
  return "unknown";
}

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::LoRA:
      return "lora";
    case Kind::LoHa:
      return "loha";
    case Kind::LoKr:
      return "lokr";
    case Kind::GLoRA:
      return "glora";
    case Kind::OFT:
      return "oft";
    case Kind::BOFT:
      return "boft";
    case Kind::IA3:
      return "ia3";
    case Kind::Full:
      return "full";
    case Kind::Norm:
      return "norm";
    case Kind::Set:
      return "set";
  }
  return "lora";
}

}  // namespace lorakit::adapter
