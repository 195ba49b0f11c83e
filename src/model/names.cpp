// Stable lower-case names of the model-layer enums (used in reports and JSON).
#include "lorakit/model.hpp"

namespace lorakit::model {

std::string_view family_name(Family f) {
  switch (f) {
    case Family::SD1:
      return "sd1";
    case Family::SD2:
      return "sd2";
    case Family::SDXL:
      return "sdxl";
    case Family::SD3:
      return "sd3";
    case Family::Flux:
      return "flux";
    case Family::Unknown:
      break;
  }
  return "unknown";
}

std::string_view layout_name(Layout l) {
  switch (l) {
    case Layout::LdmSgm:
      return "ldm";
    case Layout::Sd3Single:
      return "sd3";
    case Layout::ComfyUI:
      return "comfyui";
    case Layout::Bfl:
      return "bfl";
    case Layout::Diffusers:
      return "diffusers";
    case Layout::Unknown:
      break;
  }
  return "unknown";
}

std::string_view component_name(ComponentKind k) {
  switch (k) {
    case ComponentKind::DiffusionModel:
      return "diffusion_model";
    case ComponentKind::ClipL:
      return "clip_l";
    case ComponentKind::ClipH:
      return "clip_h";
    case ComponentKind::ClipG:
      return "clip_g";
    case ComponentKind::T5xxl:
      return "t5xxl";
    case ComponentKind::Vae:
      return "vae";
  }
  return "unknown";
}

}  // namespace lorakit::model
