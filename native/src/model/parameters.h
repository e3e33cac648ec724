// Where every Llama parameter lives in one flat buffer. Parameters, gradients and optimizer
// moments share this layout, so optimizer steps, clipping and zeroing are single loops, and
// tensor names map 1:1 to Hugging Face safetensors names.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace tunesmith {

constexpr size_t kNoParam = static_cast<size_t>(-1);

struct ParamInfo {
  std::string name;  // HF name, e.g. "model.layers.0.self_attn.q_proj.weight"
  Shape shape;
  size_t offset = 0;  // in elements
  int64_t numel = 0;
};

struct LayerParamOffsets {
  size_t input_norm = kNoParam;
  size_t q = kNoParam, k = kNoParam, v = kNoParam, o = kNoParam;
  size_t q_bias = kNoParam, k_bias = kNoParam, v_bias = kNoParam, o_bias = kNoParam;
  size_t post_norm = kNoParam;
  size_t gate = kNoParam, up = kNoParam, down = kNoParam;
};

struct ParameterLayout {
  std::vector<ParamInfo> params;
  size_t total = 0;
  size_t embed = kNoParam;
  size_t final_norm = kNoParam;
  size_t lm_head = kNoParam;  // == embed when the embeddings are tied
  std::vector<LayerParamOffsets> layers;

  static ParameterLayout build(const LlamaConfig& config);
  const ParamInfo* find(const std::string& name) const;

  // The same parameters minus those with keep[i] == false (i indexes params), offsets repacked;
  // dropped parameters' offsets become kNoParam. Used to free weights kept elsewhere (QLoRA).
  ParameterLayout compacted(const std::vector<bool>& keep) const;
  // "model.layers.{i}.self_attn.{q,k,v,o}_proj.weight" or "...mlp.{gate,up,down}_proj.weight".
  static bool is_decoder_linear_weight(const std::string& name);
};

}  // namespace tunesmith
