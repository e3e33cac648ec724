// Loads a Hugging Face checkpoint folder's weights (model.safetensors, or the shards listed in
// model.safetensors.index.json) into the flat f32 parameter buffer, upcasting F16/BF16. Every
// expected tensor must be present with the expected shape and a dtype the engine reads, and every
// value finite; errors name the file and tensor.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "model/config.h"
#include "model/parameters.h"
#include "model/safetensors.h"

namespace tunesmith {

// The weight files of a folder, headers opened and validated (SafetensorsFile::open), and the
// file holding each tensor. `listing` names what was opened (the single file or the index).
struct WeightFiles {
  std::string listing;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> by_tensor;
  size_t file_count = 0;
};

WeightFiles open_weight_files(const std::string& model_dir);

// Every parameter of `layout` is present in `files` with its shape and a loadable dtype. Reads
// headers only, no weights.
void check_weight_files(const WeightFiles& files, const ParameterLayout& layout);

void load_weights_f32(const std::string& model_dir, const ParameterLayout& layout, float* params);

// What loading `model_dir` checks before reading any weight: config.json, the safetensors
// headers, and every tensor's presence, dtype and shape against the config. Returns the config.
// Cheap even for large models (headers only), so a folder can be vetted before it is chosen.
LlamaConfig check_model_folder(const std::string& model_dir);

}  // namespace tunesmith
