// Loads a Hugging Face checkpoint folder's weights (model.safetensors, or the shards listed in
// model.safetensors.index.json) into the flat f32 parameter buffer, upcasting F16/BF16. Every
// expected tensor must be present with the expected shape; errors name the file and tensor.
#pragma once
#include <string>

#include "model/parameters.h"

namespace tunesmith {

void load_weights_f32(const std::string& model_dir, const ParameterLayout& layout, float* params);

}  // namespace tunesmith
