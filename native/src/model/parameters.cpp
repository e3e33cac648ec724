#include "model/parameters.h"

namespace tunesmith {

ParameterLayout ParameterLayout::build(const LlamaConfig& c) {
  ParameterLayout layout;
  auto add = [&](const std::string& name, Shape shape) {
    ParamInfo info;
    info.name = name;
    info.numel = shape_numel(shape);
    info.shape = std::move(shape);
    info.offset = layout.total;
    layout.total += size_t(info.numel);
    layout.params.push_back(info);
    return info.offset;
  };
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  layout.embed = add("model.embed_tokens.weight", {c.vocab_size, H});
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerParamOffsets o;
    o.input_norm = add(p + "input_layernorm.weight", {H});
    o.q = add(p + "self_attn.q_proj.weight", {q_dim, H});
    if (c.qkv_bias) o.q_bias = add(p + "self_attn.q_proj.bias", {q_dim});
    o.k = add(p + "self_attn.k_proj.weight", {kv_dim, H});
    if (c.qkv_bias) o.k_bias = add(p + "self_attn.k_proj.bias", {kv_dim});
    o.v = add(p + "self_attn.v_proj.weight", {kv_dim, H});
    if (c.qkv_bias) o.v_bias = add(p + "self_attn.v_proj.bias", {kv_dim});
    o.o = add(p + "self_attn.o_proj.weight", {H, q_dim});
    if (c.o_bias) o.o_bias = add(p + "self_attn.o_proj.bias", {H});
    o.post_norm = add(p + "post_attention_layernorm.weight", {H});
    o.gate = add(p + "mlp.gate_proj.weight", {I, H});
    o.up = add(p + "mlp.up_proj.weight", {I, H});
    o.down = add(p + "mlp.down_proj.weight", {H, I});
    layout.layers.push_back(o);
  }
  layout.final_norm = add("model.norm.weight", {H});
  layout.lm_head = c.tie_word_embeddings ? layout.embed : add("lm_head.weight", {c.vocab_size, H});
  return layout;
}

const ParamInfo* ParameterLayout::find(const std::string& name) const {
  for (const auto& p : params)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace tunesmith
