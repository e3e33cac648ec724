#include "model/config.h"

#include <algorithm>
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

// The settings that change a model's arithmetic are read the way transformers 5 reads them, and
// anything the engine does not implement is refused by key and value: ignoring it would load the
// model without a word and compute different logits.

std::string quoted(const JsonValue& v) {
  if (v.is_string()) return "'" + v.as_string() + "'";
  if (v.is_number()) {
    std::ostringstream os;
    os << v.as_number();
    return os.str();
  }
  if (v.is_bool()) return v.as_bool() ? "true" : "false";
  return v.is_null() ? "null" : v.is_array() ? "an array" : "an object";
}

// transformers' ACT2FN maps both names to SiLU, the only activation the engine implements.
void read_activation(const JsonValue& root, const std::string& source) {
  const JsonValue* act = root.find("hidden_act");
  if (!act || act->is_null()) return;  // transformers' default for these architectures is silu
  if (!act->is_string() || (act->as_string() != "silu" && act->as_string() != "swish"))
    throw Error(source + ": unsupported hidden_act " + quoted(*act) + " (the engine implements silu/swish only)");
}

// transformers 5 writes `dtype`; older versions wrote `torch_dtype`. When both are present
// transformers takes `dtype`. Empty when neither states it.
std::string read_dtype(const JsonValue& root, const std::string& source) {
  for (const char* key : {"dtype", "torch_dtype"}) {
    const JsonValue* v = root.find(key);
    if (v && !v->is_null()) return v->as_string(source + ": field '" + std::string(key) + "'");
  }
  return "";
}

struct Rope {
  double theta = 10000.0;
  RopeScaling scaling;
  bool operator==(const Rope& o) const {
    return theta == o.theta && scaling.type == o.scaling.type && scaling.factor == o.scaling.factor &&
           scaling.low_freq_factor == o.scaling.low_freq_factor && scaling.high_freq_factor == o.scaling.high_freq_factor &&
           scaling.original_max_position_embeddings == o.scaling.original_max_position_embeddings;
  }
};

// One RoPE dictionary (`key` is "rope_parameters" or "rope_scaling"), completed the way
// transformers' standardize_rope_params does: rope_theta from the dictionary, else the top-level
// rope_theta, else 10000; llama3's original_max_position_embeddings from the top level, else the
// dictionary, else max_position_embeddings.
Rope read_rope_dict(const JsonValue& root, const JsonValue& dict, const std::string& key, const LlamaConfig& c,
                    const std::string& source) {
  const std::string at = source + ": " + key;
  if (!dict.is_object()) throw Error(at + " must be an object or null, found " + quoted(dict));
  for (const auto& member : dict.as_object())
    if (member.second.is_object())
      throw Error(at + "." + member.first + ": RoPE parameters per layer type are not supported (expected one " + key +
                  " object for all layers)");
  Rope r;
  const JsonValue* t = dict.find("rope_type");
  if (!t || t->is_null()) t = dict.find("type");
  r.scaling.type = t && !t->is_null() ? t->as_string(at + ".rope_type") : "default";
  auto number = [&](const char* name, bool required, double fallback) {
    const JsonValue* v = dict.find(name);
    if (!v || v->is_null()) {
      if (required) throw Error(at + " lacks '" + name + "', which rope_type '" + r.scaling.type + "' needs");
      return fallback;
    }
    return v->as_number(at + "." + name);
  };
  r.theta = number("rope_theta", false, get_number(root, "rope_theta", source, 10000.0));
  const double partial = number("partial_rotary_factor", false, get_number(root, "partial_rotary_factor", source, 1.0));
  if (partial != 1.0) {
    std::ostringstream os;
    os << partial;
    throw Error(at + ": partial_rotary_factor " + os.str() + " is not supported (the engine rotates whole heads: 1 only)");
  }
  const std::string& kind = r.scaling.type;
  if (kind == "linear") {
    r.scaling.factor = number("factor", true, 1.0);
  } else if (kind == "llama3") {
    r.scaling.factor = number("factor", true, 1.0);
    r.scaling.low_freq_factor = number("low_freq_factor", true, 1.0);
    r.scaling.high_freq_factor = number("high_freq_factor", true, 4.0);
    const JsonValue* top = root.find("original_max_position_embeddings");
    r.scaling.original_max_position_embeddings =
        top && !top->is_null() ? top->as_int(source + ": field 'original_max_position_embeddings'")
                               : get_int(dict, "original_max_position_embeddings", at, false, c.max_position_embeddings);
    if (!(r.scaling.high_freq_factor > r.scaling.low_freq_factor))
      throw Error(at + ": high_freq_factor must exceed low_freq_factor");
  } else if (kind != "default") {
    throw Error(at + ".rope_type '" + kind + "' is not supported (the engine implements default, linear, llama3)");
  }
  if (kind != "default" && !(r.scaling.factor > 0)) throw Error(at + ".factor must be positive");
  return r;
}

// transformers 5 writes `rope_parameters`; older versions a top-level `rope_theta` and `rope_scaling`.
// Where a config carries both dictionaries, transformers (4 and 5 alike) uses `rope_scaling` while
// the newer key is meant to replace it: rather than pick one silently, the engine accepts them only
// when they describe the same RoPE.
void read_rope(const JsonValue& root, LlamaConfig& c, const std::string& source) {
  const JsonValue* params = root.find("rope_parameters");
  const JsonValue* scaling = root.find("rope_scaling");
  if (params && params->is_null()) params = nullptr;
  if (scaling && scaling->is_null()) scaling = nullptr;
  Rope rope;
  rope.theta = get_number(root, "rope_theta", source, 10000.0);
  if (params) rope = read_rope_dict(root, *params, "rope_parameters", c, source);
  if (scaling) {
    const Rope old = read_rope_dict(root, *scaling, "rope_scaling", c, source);
    if (params && !(old == rope))
      throw Error(source + ": rope_parameters and rope_scaling describe different RoPE (rope_type '" +
                  rope.scaling.type + "' vs '" + old.scaling.type + "'); keep only rope_parameters");
    rope = old;
  }
  c.rope_theta = rope.theta;
  c.rope_scaling = rope.scaling;
}

// Sliding-window attention exactly as transformers applies it (the engine windows every layer or
// none: key j is visible from query i when i - j < window, transformers' sliding_window_overlay):
//  - llama: LlamaModel has no sliding window; a `sliding_window` key is ignored.
//  - mistral: a non-null `sliding_window` windows every layer; MistralModel ignores `layer_types`.
//  - qwen2: the window is `sliding_window` only while `use_sliding_window` is true (Qwen2Config sets
//    it to None otherwise), and it applies to the layers `layer_types` marks "sliding_attention";
//    without `layer_types`, to layers i >= max_window_layers (default 28).
// Some layers windowed and others not is refused, unless the window spans max_position_embeddings
// and so never hides a key.
int64_t read_sliding_window(const JsonValue& root, const LlamaConfig& c, const std::string& source) {
  if (c.model_type == "llama") return 0;
  const int64_t window = get_int(root, "sliding_window", source, false, 0);
  const JsonValue* window_value = root.find("sliding_window");
  const bool stated = window_value && !window_value->is_null();
  const bool used = stated && (c.model_type == "mistral" || get_bool(root, "use_sliding_window", source, false));
  if (!used) return 0;
  if (window <= 0) throw Error(source + ": sliding_window must be positive or null, found " + std::to_string(window));
  if (c.model_type == "mistral") return window;

  int64_t windowed = 0;
  std::string first_full;
  if (const JsonValue* types = root.find("layer_types"); types && !types->is_null()) {
    const auto& list = types->as_array(source + ": field 'layer_types'");
    if (int64_t(list.size()) != c.num_layers)
      throw Error(source + ": layer_types lists " + std::to_string(list.size()) + " layers, num_hidden_layers is " +
                  std::to_string(c.num_layers));
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = "layer_types[" + std::to_string(i) + "]";
      const std::string& t = list[i].as_string(source + ": " + where);
      if (t == "sliding_attention") ++windowed;
      else if (t == "full_attention") { if (first_full.empty()) first_full = where; }
      else throw Error(source + ": " + where + " '" + t + "' is not supported (expected full_attention or sliding_attention)");
    }
  } else {
    const int64_t first_windowed = get_int(root, "max_window_layers", source, false, 28);
    windowed = std::max<int64_t>(0, c.num_layers - std::max<int64_t>(0, first_windowed));
    if (windowed < c.num_layers) first_full = "max_window_layers " + std::to_string(first_windowed);
  }
  if (windowed == 0) return 0;
  if (windowed == c.num_layers) return window;
  if (window >= c.max_position_embeddings) return 0;
  throw Error(source + ": sliding_window " + std::to_string(window) + " applies to " + std::to_string(windowed) + " of " +
              std::to_string(c.num_layers) + " layers (" + first_full +
              " is full attention); the engine windows all layers or none");
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
  c.tie_word_embeddings = get_bool(root, "tie_word_embeddings", source, false);  // HF default: untied
  c.bos_token_id = get_int(root, "bos_token_id", source, false, -1);

  read_activation(root, source);
  if (get_bool(root, "mlp_bias", source, false)) throw Error(source + ": mlp_bias=true is not supported");

  if (c.model_type == "qwen2") {
    c.qkv_bias = true;  // Qwen2 always has q/k/v biases and no o_proj bias
  } else {
    const bool attention_bias = get_bool(root, "attention_bias", source, false);
    c.qkv_bias = attention_bias;
    c.o_bias = attention_bias;
  }
  c.sliding_window = read_sliding_window(root, c, source);
  c.dtype = read_dtype(root, source);

  if (const JsonValue* eos = root.find("eos_token_id"); eos && !eos->is_null()) {
    if (eos->is_array()) {
      for (const JsonValue& e : eos->as_array()) c.eos_token_ids.push_back(e.as_int(source + ": eos_token_id"));
    } else {
      c.eos_token_ids.push_back(eos->as_int(source + ": eos_token_id"));
    }
  }

  read_rope(root, c, source);
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
