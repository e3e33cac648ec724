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

ParameterLayout ParameterLayout::compacted(const std::vector<bool>& keep) const {
  ParameterLayout out;
  std::vector<size_t> new_offset(params.size(), kNoParam);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!keep[i]) continue;
    ParamInfo info = params[i];
    info.offset = out.total;
    out.total += size_t(info.numel);
    new_offset[i] = info.offset;
    out.params.push_back(info);
  }
  auto remap = [&](size_t old) {
    if (old == kNoParam) return kNoParam;
    for (size_t i = 0; i < params.size(); ++i)
      if (params[i].offset == old) return new_offset[i];
    return kNoParam;
  };
  out.embed = remap(embed);
  out.final_norm = remap(final_norm);
  out.lm_head = remap(lm_head);
  for (const LayerParamOffsets& o : layers) {
    LayerParamOffsets n;
    n.input_norm = remap(o.input_norm);
    n.q = remap(o.q), n.k = remap(o.k), n.v = remap(o.v), n.o = remap(o.o);
    n.q_bias = remap(o.q_bias), n.k_bias = remap(o.k_bias), n.v_bias = remap(o.v_bias), n.o_bias = remap(o.o_bias);
    n.post_norm = remap(o.post_norm);
    n.gate = remap(o.gate), n.up = remap(o.up), n.down = remap(o.down);
    out.layers.push_back(n);
  }
  return out;
}

bool ParameterLayout::is_decoder_linear_weight(const std::string& name) {
  static const char* const suffixes[] = {".self_attn.q_proj.weight", ".self_attn.k_proj.weight",
                                         ".self_attn.v_proj.weight", ".self_attn.o_proj.weight",
                                         ".mlp.gate_proj.weight",    ".mlp.up_proj.weight",
                                         ".mlp.down_proj.weight"};
  if (name.rfind("model.layers.", 0) != 0) return false;
  for (const char* s : suffixes) {
    const std::string suffix(s);
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) return true;
  }
  return false;
}

const ParamInfo* ParameterLayout::find(const std::string& name) const {
  for (const auto& p : params)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace tunesmith
