#include "train/checkpoint.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "train/checkpoint_file.h"

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

std::string region_name(int64_t layer, size_t index) {
  return layer >= 0 ? "layer." + std::to_string(layer) : (index == 0 ? "embed" : "norm_head");
}

}  // namespace

// Reaches into the trainers' private state (each declares it a friend).
struct CheckpointAccess {
  static void save(const std::string& path, const Trainer& t) {
    Model& model = t.model_;
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
    const CheckpointReader r = open_for(path, "full", model);
    expect_equal(r, "config.optimizer.kind",
                 t.options_.optimizer.kind == OptimizerOptions::Kind::AdamW ? std::string("adamw") : std::string("sgd"));
    copy_in(r, "params", model.parameters(), model.num_parameters());
    if (t.exp_avg_.size()) copy_in(r, "optimizer.exp_avg", t.exp_avg_.data(), t.exp_avg_.size());
    if (t.exp_avg_sq_.size()) copy_in(r, "optimizer.exp_avg_sq", t.exp_avg_sq_.data(), t.exp_avg_sq_.size());
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
    CheckpointWriter w(common_fields("zo", t.step_, model) + json_field("config", config));
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
    for (size_t i = 0; i < t.view_.spans.size(); ++i)
      copy_in(r, "trainable." + std::to_string(i), t.view_.spans[i].data, size_t(t.view_.spans[i].count));
    if (t.momentum_.size()) copy_in(r, "zo.momentum", t.momentum_.data(), t.momentum_.size());
    if (t.exp_avg_.size()) copy_in(r, "zo.exp_avg", t.exp_avg_.data(), t.exp_avg_.size());
    if (t.exp_avg_sq_.size()) copy_in(r, "zo.exp_avg_sq", t.exp_avg_sq_.data(), t.exp_avg_sq_.size());
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
