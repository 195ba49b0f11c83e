// Folders of safetensors weights: a diffusers pipeline folder (`model_index.json` + one folder per
// component) or a single model's folder (a diffusers component folder, or a folder holding one
// safetensors file or one sharded index).
#pragma once

#include <memory>
#include <string>

#include "lorakit/io.hpp"

namespace lorakit::io {

// Which weights a model folder holds.
struct FolderWeights {
  enum class Kind { None, Single, Sharded } kind = Kind::None;
  std::string path;  // the safetensors file or the index
};

// The weights of one model folder, looked up in this order: diffusion_pytorch_model.safetensors,
// model.safetensors, diffusion_pytorch_model.safetensors.index.json, model.safetensors.index.json;
// else the folder's only *.safetensors.index.json; else its only *.safetensors file. Throws
// FormatError(folder, "ambiguous_folder") when several files qualify and none has a standard name,
// and UnsupportedError when the folder holds only PyTorch pickle weights (*.bin, *.pt, *.ckpt,
// *.pth).
FolderWeights find_folder_weights(const std::string& folder);

// A diffusers folder: every component that model_index.json lists and whose folder holds weights,
// in model_index.json order, tensors named "<component>.<name>" (docs/decisions.md row 1).
// Components without a folder or without weights (scheduler, tokenizer) are skipped. Otherwise a
// model folder as find_folder_weights() describes. Throws FormatError "unknown_format" when the
// folder holds neither, "no_weights" when no component holds weights, "bad_index" for a malformed
// model_index.json.
std::unique_ptr<TensorSource> open_safetensors_folder(const std::string& folder);

}  // namespace lorakit::io
