// The tiny Llama the GPU model tests share, and the CPU model they compare against: parameters
// rounded to bf16 first, so both engines start from exactly the same weights.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/rng.h"
#include "gpu_test.h"
#include "model/model.h"

namespace tunesmith_test {

// vocab 96, hidden 32, intermediate 88, 2 layers, 4 heads over 2 kv heads (GQA), head_dim 8.
inline tunesmith::LlamaConfig tiny_gpu_test_config(bool qkv_bias, bool tied_embeddings) {
  tunesmith::LlamaConfig c;
  c.vocab_size = 96;
  c.hidden_size = 32;
  c.intermediate_size = 88;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-5;
  c.qkv_bias = qkv_bias;
  c.tie_word_embeddings = tied_embeddings;
  return c;
}

inline void round_params_to_bf16(tunesmith::Model& model) {
  float* p = model.parameters();
  for (size_t i = 0; i < model.num_parameters(); ++i) p[i] = round_bf16(p[i]);
}

// Weights std 0.15, norm weights 1 ± 0.2, biases ± 0.2 (so every gradient path carries signal),
// all bf16-representable.
inline std::unique_ptr<tunesmith::Model> tiny_cpu_model(const tunesmith::LlamaConfig& config, uint64_t seed) {
  auto model = tunesmith::Model::from_config(config, seed, 0.15, 1);
  tunesmith::Rng rng(seed + 100);
  for (const tunesmith::ParamInfo& info : model->layout().params) {
    const bool is_norm = info.name.find("norm") != std::string::npos;
    const bool is_bias = info.name.size() > 5 && info.name.compare(info.name.size() - 5, 5, ".bias") == 0;
    if (!is_norm && !is_bias) continue;
    for (int64_t i = 0; i < info.numel; ++i)
      model->parameters()[info.offset + size_t(i)] = float((is_norm ? 1.0 : 0.0) + 0.2 * rng.normal());
  }
  round_params_to_bf16(*model);
  return model;
}

}  // namespace tunesmith_test
