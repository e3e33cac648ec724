// Llama-family model configuration read from a Hugging Face config.json (model_type llama,
// mistral, qwen2) in the layout of transformers 4 (top-level rope_theta / rope_scaling, torch_dtype)
// or 5 (rope_parameters, dtype), and the RoPE inverse frequencies it implies. Settings that change
// the arithmetic and that the engine does not implement are refused, naming the key.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tunesmith {

struct RopeScaling {
  std::string type = "default";  // "default", "linear" or "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct LlamaConfig {
  std::string model_type = "llama";
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // qwen2, or llama attention_bias
  bool o_bias = false;    // llama attention_bias
  int64_t sliding_window = 0;  // 0 = full causal attention, else the window of every layer
  std::string dtype;           // the weights' dtype as config.json states it ("" when it does not)
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;

  // Throws tunesmith::Error on inconsistent sizes (heads not dividing, odd head_dim, ...).
  void validate(const std::string& source) const;
};

// Parses config.json text; `source` names the file in errors.
LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source);
LlamaConfig load_llama_config(const std::string& model_dir);

// inv_freq[head_dim/2] as float32, computed exactly as transformers' rope init functions
// (_compute_default_rope_parameters, _compute_linear_scaling..., _compute_llama3_parameters).
std::vector<float> rope_inv_freq(const LlamaConfig& config);

}  // namespace tunesmith
