#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/counter_rng.h"
#include "core/error.h"
#include "train/checkpoint_file.h"
#include "train/lora.h"

namespace tunesmith {
namespace {

std::string json_bool(bool b) { return b ? "true" : "false"; }
std::string json_u64(uint64_t v) { return "\"" + std::to_string(v) + "\""; }  // seeds exceed int64/double

std::string model_fields(const Model& model) {
  const LlamaConfig& c = model.config();
  return "{" + json_field("hidden_size", std::to_string(c.hidden_size)) +
         json_field("intermediate_size", std::to_string(c.intermediate_size)) +
         json_field("num_layers", std::to_string(c.num_layers)) + json_field("num_heads", std::to_string(c.num_heads)) +
         json_field("num_kv_heads", std::to_string(c.num_kv_heads)) + json_field("head_dim", std::to_string(c.head_dim)) +
         json_field("vocab_size", std::to_string(c.vocab_size)) +
         json_field("tie_word_embeddings", json_bool(c.tie_word_embeddings)) +
         json_field("qkv_bias", json_bool(c.qkv_bias)) + json_field("o_bias", json_bool(c.o_bias)) +
         json_field("num_parameters", std::to_string(model.num_parameters()), true) + "}";
}

std::string common_fields(const std::string& kind, int64_t step, const Model& model) {
  return json_field("format", "\"tunesmith-checkpoint\"") +
         json_field("format_version", std::to_string(kCheckpointFormatVersion)) + json_field("trainer", json_quote(kind)) +
         json_field("step", std::to_string(step)) + json_field("model", model_fields(model));
}

std::string optimizer_fields(const OptimizerOptions& o) {
  return "{" + json_field("kind", o.kind == OptimizerOptions::Kind::AdamW ? "\"adamw\"" : "\"sgd\"") +
         json_field("lr", json_double(o.lr)) + json_field("beta1", json_double(o.beta1)) +
         json_field("beta2", json_double(o.beta2)) + json_field("eps", json_double(o.eps)) +
         json_field("weight_decay", json_double(o.weight_decay)) + json_field("momentum", json_double(o.momentum)) +
         json_field("dampening", json_double(o.dampening)) + json_field("nesterov", json_bool(o.nesterov), true) + "}";
}

void expect_equal(const CheckpointReader& r, const std::string& field, int64_t ours) {
  const int64_t theirs = r.field(field).as_int(r.path() + ": " + field);
  if (theirs != ours)
    throw Error(r.path() + ": checkpoint does not match: " + field + " is " + std::to_string(theirs) +
                " in the checkpoint but " + std::to_string(ours) + " here");
}
void expect_equal(const CheckpointReader& r, const std::string& field, const std::string& ours) {
  const std::string& theirs = r.field(field).as_string(r.path() + ": " + field);
  if (theirs != ours)
    throw Error(r.path() + ": checkpoint does not match: " + field + " is \"" + theirs + "\" in the checkpoint but \"" +
                ours + "\" here");
}
void expect_equal_bool(const CheckpointReader& r, const std::string& field, bool ours) {
  const bool theirs = r.field(field).as_bool(r.path() + ": " + field);
  if (theirs != ours)
    throw Error(r.path() + ": checkpoint does not match: " + field + " is " + json_bool(theirs) + " in the checkpoint but " +
                json_bool(ours) + " here");
}

// Opens a checkpoint and checks the trainer kind and the model's shape.
CheckpointReader open_for(const std::string& path, const std::string& kind, const Model& model) {
  CheckpointReader r(path);
  expect_equal(r, "trainer", kind);
  const LlamaConfig& c = model.config();
  expect_equal(r, "model.hidden_size", c.hidden_size);
  expect_equal(r, "model.intermediate_size", c.intermediate_size);
  expect_equal(r, "model.num_layers", c.num_layers);
  expect_equal(r, "model.num_heads", c.num_heads);
  expect_equal(r, "model.num_kv_heads", c.num_kv_heads);
  expect_equal(r, "model.head_dim", c.head_dim);
  expect_equal(r, "model.vocab_size", c.vocab_size);
  expect_equal_bool(r, "model.tie_word_embeddings", c.tie_word_embeddings);
  expect_equal_bool(r, "model.qkv_bias", c.qkv_bias);
  expect_equal_bool(r, "model.o_bias", c.o_bias);
  expect_equal(r, "model.num_parameters", int64_t(model.num_parameters()));
  return r;
}

void copy_in(const CheckpointReader& r, const std::string& name, float* dst, size_t count) {
  std::memcpy(dst, r.f32(name, int64_t(count)), count * sizeof(float));
}

void expect_equal_double(const CheckpointReader& r, const std::string& field, double ours) {
  const double theirs = r.field(field).as_number(r.path() + ": " + field);
  if (theirs != ours)
    throw Error(r.path() + ": checkpoint does not match: " + field + " is " + json_double(theirs) +
                " in the checkpoint but " + json_double(ours) + " here");
}

// The LoRA adapter of a model, or null when it has none; another kind of adapter is an error.
LoraAdapter* lora_of(Model& model, const std::string& path) {
  if (!model.adapter()) return nullptr;
  auto* lora = dynamic_cast<LoraAdapter*>(model.adapter());
  if (!lora) throw Error(path + ": checkpoints support the LoRA adapter only (the model has another adapter attached)");
  return lora;
}

// A fingerprint of the frozen base a LoRA run trains on top of (sampled: up to 4096 values per
// tensor and per NF4 code buffer, plus the shapes), so resuming onto another base model fails
// loudly instead of silently continuing with different weights. The base is not stored.
uint64_t base_fingerprint(Model& model, const LoraAdapter& lora) {
  uint64_t h = splitmix64_mix(0x4C6F5241ull);
  auto mix = [&h](uint64_t v) { h = splitmix64_mix(h ^ (v + kWeylGamma)); };
  auto mix_bytes = [&](const uint8_t* p, size_t n, size_t elem) {
    mix(n);
    const size_t count = n / elem, stride = std::max<size_t>(1, count / 4096);
    for (size_t i = 0; i < count; i += stride) {
      uint64_t v = 0;
      std::memcpy(&v, p + i * elem, elem);
      mix(v);
    }
  };
  for (const ParamInfo& p : model.layout().params) {
    if (model.transformer().grad_of(p.offset)) continue;  // trained: stored in the checkpoint instead
    mix_bytes(reinterpret_cast<const uint8_t*>(model.parameters() + p.offset), size_t(p.numel) * 4, 4);
  }
  for (int64_t l = 0; l < model.config().num_layers; ++l)
    for (int s = 0; s < kNumLinearSlots; ++s)
      if (const Nf4Tensor* q = lora.linears().base_nf4(l, LinearSlot(s))) {
        mix_bytes(q->packed.data(), q->packed.size(), 1);
        uint32_t offset_bits = 0;
        std::memcpy(&offset_bits, &q->offset, 4);
        mix(offset_bits);
      }
  return h;
}

std::string hex64(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
  return buf;
}

std::string sorted_target_names(const LoraConfig& c) {
  std::vector<LinearSlot> sorted = c.targets;
  std::sort(sorted.begin(), sorted.end());
  std::string names;
  for (LinearSlot s : sorted) names += (names.empty() ? "" : ",") + json_quote(linear_slot_name(s));
  return names;
}

// The "lora" header member of a checkpoint written with a LoRA adapter attached: its config, the
// dropout counter (the masks' whole RNG state) and the fingerprint of the frozen base.
std::string lora_state_fields(Model& model, const LoraAdapter& lora) {
  const LoraConfig& c = lora.config();
  return json_field("lora", "{" + json_field("r", std::to_string(c.r)) + json_field("alpha", json_double(c.alpha)) +
                                json_field("use_rslora", json_bool(c.use_rslora)) +
                                json_field("dropout", json_double(c.dropout)) +
                                json_field("target_modules", "[" + sorted_target_names(c) + "]") +
                                json_field("train_embeddings", json_bool(c.train_embeddings)) +
                                json_field("train_head", json_bool(c.train_head)) +
                                json_field("quantize_base_nf4", json_bool(c.quantize_base_nf4)) +
                                json_field("seed", json_u64(c.seed)) +
                                json_field("training_forwards", json_u64(lora.linears().training_forwards())) +
                                json_field("base_fingerprint", json_quote(hex64(base_fingerprint(model, lora))), true) +
                                "}");
}

// Checks the saved LoRA config and base fingerprint against the attached adapter.
void check_lora_state(const CheckpointReader& r, Model& model, const LoraAdapter& lora) {
  const LoraConfig& c = lora.config();
  expect_equal(r, "lora.r", c.r);
  expect_equal_double(r, "lora.alpha", c.alpha);
  expect_equal_bool(r, "lora.use_rslora", c.use_rslora);
  expect_equal_double(r, "lora.dropout", c.dropout);
  std::string theirs;
  for (const JsonValue& v : r.field("lora.target_modules").as_array(r.path() + ": lora.target_modules"))
    theirs += (theirs.empty() ? "" : ",") + json_quote(v.as_string(r.path() + ": lora.target_modules"));
  const std::string ours = sorted_target_names(c);
  if (theirs != ours)
    throw Error(r.path() + ": checkpoint does not match: lora.target_modules is [" + theirs + "] in the checkpoint but [" +
                ours + "] here");
  expect_equal_bool(r, "lora.train_embeddings", c.train_embeddings);
  expect_equal_bool(r, "lora.train_head", c.train_head);
  expect_equal_bool(r, "lora.quantize_base_nf4", c.quantize_base_nf4);
  expect_equal(r, "lora.seed", std::to_string(c.seed));
  expect_equal(r, "lora.base_fingerprint", hex64(base_fingerprint(model, lora)));
}

uint64_t lora_training_forwards(const CheckpointReader& r) {
  const std::string& v = r.field("lora.training_forwards").as_string(r.path() + ": lora.training_forwards");
  try {
    return std::stoull(v);
  } catch (const std::exception&) {
    throw Error(r.path() + ": lora.training_forwards is not an unsigned integer: \"" + v + "\"");
  }
}

std::string region_name(int64_t layer, size_t index) {
  return layer >= 0 ? "layer." + std::to_string(layer) : (index == 0 ? "embed" : "norm_head");
}

}  // namespace

// Reaches into the trainers' private state (each declares it a friend).
struct CheckpointAccess {
  static void save(const std::string& path, const Trainer& t) {
    Model& model = t.model_;
    if (LoraAdapter* lora = lora_of(model, path)) return save_lora(path, t, *lora);
    const std::string fields = common_fields("full", t.step_, model) +
                               json_field("config", "{" + json_field("optimizer", optimizer_fields(t.options_.optimizer)) +
                                                        json_field("max_grad_norm", json_double(t.options_.max_grad_norm), true) + "}");
    CheckpointWriter w(fields);
    w.add_f32("params", model.parameters(), int64_t(model.num_parameters()));
    if (t.exp_avg_.size()) w.add_f32("optimizer.exp_avg", t.exp_avg_.data(), int64_t(t.exp_avg_.size()));
    if (t.exp_avg_sq_.size()) w.add_f32("optimizer.exp_avg_sq", t.exp_avg_sq_.data(), int64_t(t.exp_avg_sq_.size()));
    w.write(path);
  }

  static void load(const std::string& path, Trainer& t) {
    Model& model = t.model_;
    if (LoraAdapter* lora = lora_of(model, path)) return load_lora(path, t, *lora);
    const CheckpointReader r = open_for(path, "full", model);
    expect_equal(r, "config.optimizer.kind",
                 t.options_.optimizer.kind == OptimizerOptions::Kind::AdamW ? std::string("adamw") : std::string("sgd"));
    copy_in(r, "params", model.parameters(), model.num_parameters());
    if (t.exp_avg_.size()) copy_in(r, "optimizer.exp_avg", t.exp_avg_.data(), t.exp_avg_.size());
    if (t.exp_avg_sq_.size()) copy_in(r, "optimizer.exp_avg_sq", t.exp_avg_sq_.data(), t.exp_avg_sq_.size());
    t.step_ = r.field("step").as_int();
  }

  // A Trainer with LoRA attached: the trainable view (trainable base tensors, then the adapter's
  // A/B), the optimizer state over it, the dropout step counter and the step. The frozen base is
  // not stored (it is the base model the run started from; a fingerprint checks it on load).
  static void save_lora(const std::string& path, const Trainer& t, LoraAdapter& lora) {
    Model& model = t.model_;
    const TrainableView<float> view = model.trainable_spans();
    const std::string config = "{" + json_field("optimizer", optimizer_fields(t.options_.optimizer)) +
                               json_field("max_grad_norm", json_double(t.options_.max_grad_norm)) +
                               json_field("trainable_elements", std::to_string(view.total()), true) + "}";
    CheckpointWriter w(common_fields("lora", t.step_, model) + json_field("config", config) +
                       lora_state_fields(model, lora));
    for (size_t i = 0; i < view.spans.size(); ++i)
      w.add_f32("trainable." + std::to_string(i), view.spans[i].data, view.spans[i].count);
    if (t.exp_avg_.size()) w.add_f32("optimizer.exp_avg", t.exp_avg_.data(), int64_t(t.exp_avg_.size()));
    if (t.exp_avg_sq_.size()) w.add_f32("optimizer.exp_avg_sq", t.exp_avg_sq_.data(), int64_t(t.exp_avg_sq_.size()));
    w.write(path);
  }

  static void load_lora(const std::string& path, Trainer& t, LoraAdapter& lora) {
    Model& model = t.model_;
    const CheckpointReader r = open_for(path, "lora", model);
    expect_equal(r, "config.optimizer.kind",
                 t.options_.optimizer.kind == OptimizerOptions::Kind::AdamW ? std::string("adamw") : std::string("sgd"));
    check_lora_state(r, model, lora);
    const TrainableView<float> view = model.trainable_spans();
    expect_equal(r, "config.trainable_elements", view.total());
    const uint64_t forwards = lora_training_forwards(r);
    for (size_t i = 0; i < view.spans.size(); ++i)
      copy_in(r, "trainable." + std::to_string(i), view.spans[i].data, size_t(view.spans[i].count));
    if (t.exp_avg_.size()) copy_in(r, "optimizer.exp_avg", t.exp_avg_.data(), t.exp_avg_.size());
    if (t.exp_avg_sq_.size()) copy_in(r, "optimizer.exp_avg_sq", t.exp_avg_sq_.data(), t.exp_avg_sq_.size());
    lora.linears().set_training_forwards(forwards);
    t.step_ = r.field("step").as_int();
  }

  static void save(const std::string& path, const LisaTrainer& t) {
    Model& model = t.model_;
    std::string layers = "[", steps = "[";
    for (size_t i = 0; i < t.regions_.size(); ++i) {
      steps += (i ? "," : "") + std::to_string(t.regions_[i].adam_step);
      if (t.regions_[i].layer >= 0) layers += (layers.size() > 1 ? "," : "") + std::to_string(t.regions_[i].layer);
    }
    layers += "]";
    steps += "]";
    const LisaOptions& l = t.lisa_;
    const std::string config = "{" + json_field("gamma", std::to_string(l.gamma)) +
                               json_field("period_k", std::to_string(l.period_k)) + json_field("seed", json_u64(l.seed)) +
                               json_field("optimizer", optimizer_fields(t.options_.optimizer)) +
                               json_field("max_grad_norm", json_double(t.options_.max_grad_norm), true) + "}";
    const std::string state = "{" + json_field("has_state", json_bool(!t.regions_.empty())) +
                              json_field("active_layers", layers) + json_field("region_adam_steps", steps, true) + "}";
    CheckpointWriter w(common_fields("lisa", t.step_, model) + json_field("config", config) + json_field("state", state));
    w.add_f32("params", model.parameters(), int64_t(model.num_parameters()));
    for (size_t i = 0; i < t.regions_.size(); ++i) {
      const auto& reg = t.regions_[i];
      w.add_f32(region_name(reg.layer, i) + ".exp_avg", reg.exp_avg.data(), int64_t(reg.count));
      w.add_f32(region_name(reg.layer, i) + ".exp_avg_sq", reg.exp_avg_sq.data(), int64_t(reg.count));
    }
    w.write(path);
  }

  static void load(const std::string& path, LisaTrainer& t) {
    Model& model = t.model_;
    const CheckpointReader r = open_for(path, "lisa", model);
    expect_equal(r, "config.gamma", t.lisa_.gamma);
    expect_equal(r, "config.period_k", t.lisa_.period_k);
    expect_equal(r, "config.seed", std::to_string(t.lisa_.seed));
    const int64_t step = r.field("step").as_int();
    copy_in(r, "params", model.parameters(), model.num_parameters());
    t.regions_.clear();
    t.step_ = step;
    if (!r.field("state.has_state").as_bool()) return;
    std::vector<int64_t> layers;
    for (const JsonValue& v : r.field("state.active_layers").as_array()) layers.push_back(v.as_int());
    const std::vector<int64_t> scheduled = lisa_active_layers(t.lisa_, model.config().num_layers, step > 0 ? step - 1 : 0);
    if (layers != scheduled)
      throw Error(path + ": checkpoint's LISA active layers do not match the schedule of its seed at step " + std::to_string(step));
    t.switch_to(layers);  // fresh regions in the canonical order, then their saved state
    const auto& steps = r.field("state.region_adam_steps").as_array();
    if (steps.size() != t.regions_.size()) throw Error(path + ": state.region_adam_steps has the wrong length");
    for (size_t i = 0; i < t.regions_.size(); ++i) {
      auto& reg = t.regions_[i];
      copy_in(r, region_name(reg.layer, i) + ".exp_avg", reg.exp_avg.data(), reg.count);
      copy_in(r, region_name(reg.layer, i) + ".exp_avg_sq", reg.exp_avg_sq.data(), reg.count);
      reg.adam_step = steps[i].as_int();
    }
  }

  static void save(const std::string& path, const ZoTrainer& t) {
    Model& model = t.model_;
    const ZoOptions& o = t.options_;
    const std::string config = "{" + json_field("method", json_quote(zo_method_name(o.method))) +
                               json_field("eps", json_double(o.eps)) + json_field("q", std::to_string(o.q)) +
                               json_field("one_sided", json_bool(o.one_sided)) + json_field("lr", json_double(o.lr)) +
                               json_field("momentum", json_double(o.momentum)) + json_field("beta1", json_double(o.beta1)) +
                               json_field("beta2", json_double(o.beta2)) + json_field("adam_eps", json_double(o.adam_eps)) +
                               json_field("weight_decay", json_double(o.weight_decay)) +
                               json_field("seed", json_u64(o.seed)) +
                               json_field("trainable_elements", std::to_string(t.view_.total()), true) + "}";
    std::string fields = common_fields("zo", t.step_, model) + json_field("config", config);
    if (LoraAdapter* lora = lora_of(model, path)) fields += lora_state_fields(model, *lora);
    CheckpointWriter w(fields);
    for (size_t i = 0; i < t.view_.spans.size(); ++i)
      w.add_f32("trainable." + std::to_string(i), t.view_.spans[i].data, t.view_.spans[i].count);
    if (t.momentum_.size()) w.add_f32("zo.momentum", t.momentum_.data(), int64_t(t.momentum_.size()));
    if (t.exp_avg_.size()) w.add_f32("zo.exp_avg", t.exp_avg_.data(), int64_t(t.exp_avg_.size()));
    if (t.exp_avg_sq_.size()) w.add_f32("zo.exp_avg_sq", t.exp_avg_sq_.data(), int64_t(t.exp_avg_sq_.size()));
    w.write(path);
  }

  static void load(const std::string& path, ZoTrainer& t) {
    const CheckpointReader r = open_for(path, "zo", t.model_);
    expect_equal(r, "config.method", std::string(zo_method_name(t.options_.method)));
    expect_equal(r, "config.q", t.options_.q);
    expect_equal_bool(r, "config.one_sided", t.options_.one_sided);
    expect_equal(r, "config.seed", std::to_string(t.options_.seed));
    expect_equal(r, "config.trainable_elements", t.view_.total());
    LoraAdapter* lora = lora_of(t.model_, path);
    if (r.header().find("lora") != nullptr || lora) {
      if (!lora) throw Error(path + ": checkpoint was written with a LoRA adapter attached, and this model has none");
      if (!r.header().find("lora")) throw Error(path + ": checkpoint was written without a LoRA adapter, and this model has one");
      check_lora_state(r, t.model_, *lora);
    }
    for (size_t i = 0; i < t.view_.spans.size(); ++i)
      copy_in(r, "trainable." + std::to_string(i), t.view_.spans[i].data, size_t(t.view_.spans[i].count));
    if (t.momentum_.size()) copy_in(r, "zo.momentum", t.momentum_.data(), t.momentum_.size());
    if (t.exp_avg_.size()) copy_in(r, "zo.exp_avg", t.exp_avg_.data(), t.exp_avg_.size());
    if (t.exp_avg_sq_.size()) copy_in(r, "zo.exp_avg_sq", t.exp_avg_sq_.data(), t.exp_avg_sq_.size());
    if (lora) lora->linears().set_training_forwards(lora_training_forwards(r));
    t.step_ = r.field("step").as_int();
  }
};

CheckpointInfo read_checkpoint_info(const std::string& path) {
  const CheckpointReader r(path);
  CheckpointInfo info;
  info.format_version = r.field("format_version").as_int();
  info.trainer = r.field("trainer").as_string();
  info.step = r.field("step").as_int();
  info.header_json = r.header_text();
  while (!info.header_json.empty() && info.header_json.back() == ' ') info.header_json.pop_back();
  return info;
}

void save_checkpoint(const std::string& path, const Trainer& trainer) { CheckpointAccess::save(path, trainer); }
void save_checkpoint(const std::string& path, const LisaTrainer& trainer) { CheckpointAccess::save(path, trainer); }
void save_checkpoint(const std::string& path, const ZoTrainer& trainer) { CheckpointAccess::save(path, trainer); }
void load_checkpoint(const std::string& path, Trainer& trainer) { CheckpointAccess::load(path, trainer); }
void load_checkpoint(const std::string& path, LisaTrainer& trainer) { CheckpointAccess::load(path, trainer); }
void load_checkpoint(const std::string& path, ZoTrainer& trainer) { CheckpointAccess::load(path, trainer); }

}  // namespace tunesmith
