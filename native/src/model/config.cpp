#include "model/config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "model/json.h"

namespace tunesmith {
namespace {

int64_t get_int(const JsonValue& root, const char* key, const std::string& source, bool required, int64_t fallback) {
  const JsonValue* v = root.find(key);
  if (!v || v->is_null()) {
    if (required) throw Error(source + ": missing required field '" + key + "'");
    return fallback;
  }
  return v->as_int(source + ": field '" + key + "'");
}

double get_number(const JsonValue& root, const char* key, const std::string& source, double fallback) {
  const JsonValue* v = root.find(key);
  if (!v || v->is_null()) return fallback;
  return v->as_number(source + ": field '" + key + "'");
}

bool get_bool(const JsonValue& root, const char* key, const std::string& source, bool fallback) {
  const JsonValue* v = root.find(key);
  if (!v || v->is_null()) return fallback;
  return v->as_bool(source + ": field '" + key + "'");
}

}  // namespace

void LlamaConfig::validate(const std::string& source) const {
  auto positive = [&](int64_t v, const char* name) {
    if (v <= 0) throw Error(source + ": " + name + " must be positive, found " + std::to_string(v));
  };
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_layers, "num_hidden_layers");
  positive(num_heads, "num_attention_heads");
  positive(num_kv_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  positive(vocab_size, "vocab_size");
  if (num_heads % num_kv_heads != 0)
    throw Error(source + ": num_attention_heads (" + std::to_string(num_heads) +
                ") is not a multiple of num_key_value_heads (" + std::to_string(num_kv_heads) + ")");
  if (head_dim % 2 != 0) throw Error(source + ": head_dim must be even for RoPE, found " + std::to_string(head_dim));
  if (!(rms_norm_eps > 0)) throw Error(source + ": rms_norm_eps must be positive");
  if (!(rope_theta > 0)) throw Error(source + ": rope_theta must be positive");
}

LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source) {
  const JsonValue root = parse_json(json_text, source);
  if (!root.is_object()) throw Error(source + ": config is not a JSON object");
  LlamaConfig c;
  const JsonValue* type = root.find("model_type");
  if (!type || !type->is_string()) throw Error(source + ": missing model_type");
  c.model_type = type->as_string();
  if (c.model_type != "llama" && c.model_type != "mistral" && c.model_type != "qwen2")
    throw Error(source + ": unsupported architecture model_type '" + c.model_type +
                "' (supported: llama, mistral, qwen2)");

  c.hidden_size = get_int(root, "hidden_size", source, true, 0);
  c.intermediate_size = get_int(root, "intermediate_size", source, true, 0);
  c.num_layers = get_int(root, "num_hidden_layers", source, true, 0);
  c.num_heads = get_int(root, "num_attention_heads", source, true, 0);
  c.num_kv_heads = get_int(root, "num_key_value_heads", source, false, c.num_heads);
  c.vocab_size = get_int(root, "vocab_size", source, true, 0);
  c.head_dim = get_int(root, "head_dim", source, false, c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  c.max_position_embeddings = get_int(root, "max_position_embeddings", source, false, 2048);
  c.rms_norm_eps = get_number(root, "rms_norm_eps", source, 1e-6);
  c.rope_theta = get_number(root, "rope_theta", source, 10000.0);
  c.tie_word_embeddings = get_bool(root, "tie_word_embeddings", source, false);  // HF default: untied
  c.bos_token_id = get_int(root, "bos_token_id", source, false, -1);

  if (const JsonValue* act = root.find("hidden_act"); act && act->is_string() && act->as_string() != "silu")
    throw Error(source + ": unsupported hidden_act '" + act->as_string() + "' (only silu)");
  if (get_bool(root, "mlp_bias", source, false)) throw Error(source + ": mlp_bias=true is not supported");

  if (c.model_type == "qwen2") {
    c.qkv_bias = true;  // Qwen2 always has q/k/v biases and no o_proj bias
    if (get_bool(root, "use_sliding_window", source, false)) c.sliding_window = get_int(root, "sliding_window", source, false, 0);
  } else {
    const bool attention_bias = get_bool(root, "attention_bias", source, false);
    c.qkv_bias = attention_bias;
    c.o_bias = attention_bias;
    if (c.model_type == "mistral") c.sliding_window = get_int(root, "sliding_window", source, false, 0);
  }

  if (const JsonValue* eos = root.find("eos_token_id"); eos && !eos->is_null()) {
    if (eos->is_array()) {
      for (const JsonValue& e : eos->as_array()) c.eos_token_ids.push_back(e.as_int(source + ": eos_token_id"));
    } else {
      c.eos_token_ids.push_back(eos->as_int(source + ": eos_token_id"));
    }
  }

  if (const JsonValue* rs = root.find("rope_scaling"); rs && !rs->is_null()) {
    if (!rs->is_object()) throw Error(source + ": rope_scaling must be an object or null");
    const JsonValue* t = rs->find("rope_type");
    if (!t) t = rs->find("type");
    const std::string kind = t ? t->as_string(source + ": rope_scaling.rope_type") : "default";
    c.rope_scaling.type = kind;
    c.rope_scaling.factor = get_number(*rs, "factor", source, 1.0);
    if (kind == "llama3") {
      c.rope_scaling.low_freq_factor = get_number(*rs, "low_freq_factor", source, 1.0);
      c.rope_scaling.high_freq_factor = get_number(*rs, "high_freq_factor", source, 4.0);
      c.rope_scaling.original_max_position_embeddings =
          get_int(*rs, "original_max_position_embeddings", source, false, 8192);
      if (!(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor))
        throw Error(source + ": rope_scaling high_freq_factor must exceed low_freq_factor");
    } else if (kind != "default" && kind != "linear") {
      throw Error(source + ": unsupported rope_scaling type '" + kind + "' (supported: default, linear, llama3)");
    }
  }
  c.validate(source);
  return c;
}

LlamaConfig load_llama_config(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_llama_config(ss.str(), path);
}

std::vector<float> rope_inv_freq(const LlamaConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<float> inv(half);
  // HF: 1 / base ** (arange(0, dim, 2).float() / dim), all in float32.
  for (int64_t j = 0; j < half; ++j) {
    const float exponent = float(2 * j) / float(c.head_dim);
    inv[j] = 1.0f / std::pow(float(c.rope_theta), exponent);
  }
  const RopeScaling& rs = c.rope_scaling;
  if (rs.type == "linear") {
    for (float& f : inv) f = f / float(rs.factor);
  } else if (rs.type == "llama3") {
    const float factor = float(rs.factor);
    const float low = float(rs.low_freq_factor), high = float(rs.high_freq_factor);
    const float old_len = float(rs.original_max_position_embeddings);
    const float low_freq_wavelen = old_len / low;
    const float high_freq_wavelen = old_len / high;
    const float pi = float(M_PI);
    for (float& f : inv) {
      const float wavelen = 2.0f * pi / f;
      // Long wavelengths are divided by factor, short ones kept, the band between interpolated.
      float scaled = wavelen > low_freq_wavelen ? f / factor : f;
      const float smooth = (old_len / wavelen - low) / (high - low);
      const float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;
      const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
      f = medium ? smoothed : scaled;
    }
  }
  return inv;
}

}  // namespace tunesmith
