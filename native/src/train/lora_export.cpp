#include "train/lora_export.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "model/json.h"
#include "model/json_writer.h"
#include "model/model.h"
#include "model/safetensors.h"

namespace tunesmith {
namespace fs = std::filesystem;
namespace {

const char* kEmbedKey = "base_model.model.model.embed_tokens.weight";
const char* kHeadKey = "base_model.model.lm_head.weight";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write " + tmp);
    out << text;
    out.flush();
    if (!out) {
      out.close();
      std::remove(tmp.c_str());
      throw Error("write failed for " + tmp + " (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw Error("cannot rename " + tmp + " to " + path + ": " + ec.message());
  }
}

void make_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create directory " + dir + ": " + ec.message());
}

LoraAdapter& lora_of(Model& model, const char* what) {
  auto* lora = dynamic_cast<LoraAdapter*>(model.adapter());
  if (!lora) throw Error(std::string(what) + ": the model has no LoRA adapter attached");
  return *lora;
}

std::string module_prefix(int64_t layer, LinearSlot slot) {
  return "model.layers." + std::to_string(layer) + "." + linear_slot_parent(slot) + "." + linear_slot_name(slot);
}

JsonValue str(const std::string& s) { return JsonValue::make_string(s); }
JsonValue num(double d) { return JsonValue::make_number(d, false, 0); }
JsonValue integer(int64_t i) { return JsonValue::make_number(double(i), true, i); }

}  // namespace

void save_peft_adapter(Model& model, const std::string& dir, const std::string& base_model_name_or_path) {
  LoraAdapter& lora = lora_of(model, "save_peft_adapter");
  const LoraConfig& c = lora.config();
  make_dir(dir);

  std::vector<JsonValue> targets, to_save;
  for (int s = 0; s < kNumLinearSlots; ++s)
    for (LinearSlot t : c.targets)
      if (t == LinearSlot(s)) targets.push_back(str(linear_slot_name(t)));
  const bool tied = model.config().tie_word_embeddings;
  // A tied model trains one shared tensor; PEFT sees it as embed_tokens.
  if (c.train_embeddings || (c.train_head && tied)) to_save.push_back(str("embed_tokens"));
  if (c.train_head && !tied) to_save.push_back(str("lm_head"));
  std::vector<std::pair<std::string, JsonValue>> cfg = {
      {"alpha_pattern", JsonValue::make_object({})},
      {"base_model_name_or_path", str(base_model_name_or_path)},
      {"bias", str("none")},
      {"fan_in_fan_out", JsonValue::make_bool(false)},
      {"inference_mode", JsonValue::make_bool(true)},
      {"init_lora_weights", JsonValue::make_bool(true)},
      {"layers_to_transform", JsonValue::make_null()},
      {"lora_alpha", num(c.alpha)},
      {"lora_dropout", num(c.dropout)},
      {"modules_to_save", to_save.empty() ? JsonValue::make_null() : JsonValue::make_array(to_save)},
      {"peft_type", str("LORA")},
      {"r", integer(c.r)},
      {"rank_pattern", JsonValue::make_object({})},
      {"target_modules", JsonValue::make_array(targets)},
      {"task_type", str("CAUSAL_LM")},
      {"use_dora", JsonValue::make_bool(false)},
      {"use_rslora", JsonValue::make_bool(c.use_rslora)},
  };

  std::vector<SafetensorsRawItem> items;
  const LoraLinears<float>& L = lora.linears();
  for (const auto& m : L.modules()) {
    const std::string p = "base_model.model." + module_prefix(m.layer, m.slot);
    items.push_back({p + ".lora_A.weight", DType::F32, {c.r, m.in}, L.params() + m.a});
    items.push_back({p + ".lora_B.weight", DType::F32, {m.out, c.r}, L.params() + m.b});
  }
  const ParameterLayout& layout = model.layout();
  const Shape table = {model.config().vocab_size, model.config().hidden_size};
  if (c.train_embeddings || (c.train_head && tied)) items.push_back({kEmbedKey, DType::F32, table, model.parameters() + layout.embed});
  if (c.train_head && !tied) items.push_back({kHeadKey, DType::F32, table, model.parameters() + layout.lm_head});
  write_safetensors(dir + "/adapter_model.safetensors", items, {{"format", "pt"}});
  write_text_atomic(dir + "/adapter_config.json", json_serialize(JsonValue::make_object(cfg)) + "\n");
}

LoraConfig read_peft_adapter_config(const std::string& path) {
  const JsonValue j = parse_json(read_text(path), path);
  if (!j.is_object()) throw Error(path + ": not a JSON object");
  auto field = [&](const char* name) { return j.find(name); };
  auto where = [&](const char* name) { return path + ": field '" + name + "'"; };
  const JsonValue* type = field("peft_type");
  if (!type || type->as_string(where("peft_type")) != "LORA")
    throw Error(where("peft_type") + " must be \"LORA\"");
  LoraConfig c;
  if (const JsonValue* r = field("r")) c.r = r->as_int(where("r"));
  if (const JsonValue* a = field("lora_alpha")) c.alpha = a->as_number(where("lora_alpha"));
  if (const JsonValue* d = field("lora_dropout"); d && !d->is_null()) c.dropout = d->as_number(where("lora_dropout"));
  if (const JsonValue* rs = field("use_rslora"); rs && !rs->is_null()) c.use_rslora = rs->as_bool(where("use_rslora"));
  if (const JsonValue* d = field("use_dora"); d && d->is_bool() && d->as_bool()) throw Error(where("use_dora") + ": DoRA is not supported");
  if (const JsonValue* f = field("fan_in_fan_out"); f && f->is_bool() && f->as_bool())
    throw Error(where("fan_in_fan_out") + ": only false (Llama's nn.Linear layout) is supported");
  if (const JsonValue* b = field("bias"); b && !b->is_null() && b->as_string(where("bias")) != "none")
    throw Error(where("bias") + ": only \"none\" is supported");
  if (const JsonValue* l = field("layers_to_transform"); l && !l->is_null())
    throw Error(where("layers_to_transform") + ": adapters on a subset of layers are not supported");
  for (const char* pattern : {"rank_pattern", "alpha_pattern"})
    if (const JsonValue* p = field(pattern); p && p->is_object() && !p->as_object().empty())
      throw Error(where(pattern) + ": per-module ranks/alphas are not supported");
  const JsonValue* targets = field("target_modules");
  if (!targets) throw Error(where("target_modules") + " is missing");
  c.targets.clear();
  if (targets->is_string()) {
    c.targets = lora_target_preset(targets->as_string());
  } else {
    for (const JsonValue& t : targets->as_array(where("target_modules"))) {
      try {
        c.targets.push_back(parse_linear_slot(t.as_string(where("target_modules"))));
      } catch (const Error& e) {
        throw Error(where("target_modules") + ": " + e.what());
      }
    }
  }
  if (const JsonValue* m = field("modules_to_save"); m && !m->is_null()) {
    for (const JsonValue& name : m->as_array(where("modules_to_save"))) {
      const std::string& n = name.as_string(where("modules_to_save"));
      if (n == "embed_tokens") c.train_embeddings = true;
      else if (n == "lm_head") c.train_head = true;
      else throw Error(where("modules_to_save") + ": module '" + n + "' is not supported (embed_tokens, lm_head)");
    }
  }
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  return c;
}

std::shared_ptr<LoraAdapter> load_peft_adapter(Model& model, const std::string& dir, bool quantize_base_nf4) {
  LoraConfig config = read_peft_adapter_config(dir + "/adapter_config.json");
  config.quantize_base_nf4 = quantize_base_nf4;
  const std::string weights = dir + "/adapter_model.safetensors";
  auto file = SafetensorsFile::open(weights);  // before attaching, so a bad file leaves the model alone
  std::set<std::string> expected;
  for (int64_t l = 0; l < model.config().num_layers; ++l)
    for (LinearSlot t : config.targets) {
      expected.insert("base_model.model." + module_prefix(l, t) + ".lora_A.weight");
      expected.insert("base_model.model." + module_prefix(l, t) + ".lora_B.weight");
    }
  const bool tied = model.config().tie_word_embeddings;
  if (config.train_embeddings) expected.insert(kEmbedKey);
  if (config.train_head) expected.insert(tied ? kEmbedKey : kHeadKey);
  for (const auto& e : file->entries())
    if (!expected.count(e.name))
      throw Error("unexpected tensor '" + e.name + "' in " + weights + " (not implied by adapter_config.json)");
  for (const std::string& name : expected)
    if (!file->find(name)) throw Error("missing tensor '" + name + "' in " + weights);

  auto lora = attach_lora(model, config);
  try {
    LoraLinears<float>& L = lora->linears();
    for (const auto& m : L.modules()) {
      const std::string p = "base_model.model." + module_prefix(m.layer, m.slot);
      file->read_f32(p + ".lora_A.weight", {config.r, m.in}, L.params() + m.a);
      file->read_f32(p + ".lora_B.weight", {m.out, config.r}, L.params() + m.b);
    }
    const Shape table = {model.config().vocab_size, model.config().hidden_size};
    if (file->find(kEmbedKey)) file->read_f32(kEmbedKey, table, model.parameters() + model.layout().embed);
    if (file->find(kHeadKey)) file->read_f32(kHeadKey, table, model.parameters() + model.layout().lm_head);
  } catch (...) {
    model.detach_adapter();
    throw;
  }
  return lora;
}

void save_merged_model(Model& model, const std::string& base_model_dir, const std::string& out_dir,
                       const MergedExportOptions& options) {
  if (options.dtype != DType::F32 && options.dtype != DType::BF16 && options.dtype != DType::F16)
    throw Error(std::string("save_merged_model: dtype ") + dtype_name(options.dtype) + " is not F32, BF16 or F16");
  if (options.max_shard_bytes == 0) throw Error("save_merged_model: max_shard_bytes must be > 0");
  const std::string config_path = base_model_dir + "/config.json";
  JsonValue config = parse_json(read_text(config_path), config_path);
  if (!config.is_object()) throw Error(config_path + ": not a JSON object");
  make_dir(out_dir);

  auto* lora = dynamic_cast<LoraAdapter*>(model.adapter());
  if (model.adapter() && !lora) throw Error("save_merged_model: the attached adapter is not LoRA");
  // The full Hugging Face tensor list, whatever the engine currently stores (QLoRA freed the fp32
  // Linear weights; they come back from NF4).
  const ParameterLayout full = ParameterLayout::build(model.config());
  const ParameterLayout& stored = model.layout();

  // Produces one merged tensor in f32.
  auto merged = [&](const ParamInfo& info, std::vector<float>& out) {
    out.resize(size_t(info.numel));
    const ParamInfo* here = stored.find(info.name);
    int64_t layer = -1;
    int slot = -1;
    if (ParameterLayout::is_decoder_linear_weight(info.name))
      for (int64_t l = 0; l < model.config().num_layers && slot < 0; ++l)
        for (int s = 0; s < kNumLinearSlots; ++s)
          if (info.name == module_prefix(l, LinearSlot(s)) + ".weight") layer = l, slot = s;
    const float* fp32 = here ? model.parameters() + here->offset : nullptr;
    if (slot >= 0 && lora) {
      lora->linears().base_weight(layer, LinearSlot(slot), fp32, out.data());
      if (const auto* m = lora->linears().find(layer, LinearSlot(slot))) {
        // W' = W + s·B·A, the product accumulated in double, added once (PEFT's merge in fp32).
        const LoraLinears<float>& L = lora->linears();
        const int64_t r = L.config().r;
        const double s = L.config().scaling();
        const float* A = L.params() + m->a;
        const float* B = L.params() + m->b;
        std::vector<double> row(size_t(m->in));
        for (int64_t o = 0; o < m->out; ++o) {
          std::fill(row.begin(), row.end(), 0.0);
          for (int64_t k = 0; k < r; ++k) {
            const double b = B[o * r + k];
            for (int64_t i = 0; i < m->in; ++i) row[size_t(i)] += b * A[k * m->in + i];
          }
          for (int64_t i = 0; i < m->in; ++i) out[size_t(o * m->in + i)] = float(double(out[size_t(o * m->in + i)]) + s * row[size_t(i)]);
        }
      }
      return;
    }
    if (!fp32) throw Error("save_merged_model: no weights for tensor '" + info.name + "'");
    std::copy(fp32, fp32 + info.numel, out.data());
  };

  // Shards as save_pretrained makes them: fill in order, start a new shard when the next tensor
  // would pass the limit (a tensor larger than the limit gets a shard of its own).
  std::vector<std::vector<const ParamInfo*>> shards(1);
  uint64_t shard_bytes = 0, total_bytes = 0;
  for (const ParamInfo& p : full.params) {
    const uint64_t bytes = dtype_storage_bytes(options.dtype, p.numel);
    if (!shards.back().empty() && shard_bytes + bytes > options.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&p);
    shard_bytes += bytes;
    total_bytes += bytes;
  }
  auto shard_name = [&](size_t i) {
    if (shards.size() == 1) return std::string("model.safetensors");
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    return std::string(buf);
  };
  // The loader prefers model.safetensors over an index: remove whichever layout we are not writing.
  std::error_code ec;
  fs::remove(out_dir + (shards.size() == 1 ? "/model.safetensors.index.json" : "/model.safetensors"), ec);

  std::vector<std::pair<std::string, JsonValue>> weight_map;
  std::vector<float> values;
  for (size_t s = 0; s < shards.size(); ++s) {
    std::vector<std::vector<uint8_t>> bytes(shards[s].size());
    std::vector<SafetensorsRawItem> items;
    for (size_t t = 0; t < shards[s].size(); ++t) {
      const ParamInfo& p = *shards[s][t];
      merged(p, values);
      bytes[t].resize(dtype_storage_bytes(options.dtype, p.numel));
      convert_from_f32(options.dtype, values.data(), bytes[t].data(), values.size());
      items.push_back({p.name, options.dtype, p.shape, bytes[t].data()});
      weight_map.push_back({p.name, str(shard_name(s))});
    }
    write_safetensors(out_dir + "/" + shard_name(s), items, {{"format", "pt"}});
  }
  if (shards.size() > 1) {
    JsonValue index = JsonValue::make_object(
        {{"metadata", JsonValue::make_object({{"total_size", integer(int64_t(total_bytes))}})},
         {"weight_map", JsonValue::make_object(weight_map)}});
    write_text_atomic(out_dir + "/model.safetensors.index.json", json_serialize(index) + "\n");
  }

  for (const char* extra : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                            "generation_config.json"}) {
    const fs::path src = fs::path(base_model_dir) / extra;
    if (!fs::exists(src)) continue;
    const std::string dst = out_dir + "/" + extra;
    fs::copy_file(src, dst + ".tmp", fs::copy_options::overwrite_existing, ec);
    if (!ec) fs::rename(dst + ".tmp", dst, ec);
    if (ec) throw Error("cannot copy " + src.string() + " to " + dst + ": " + ec.message());
  }

  // config.json last: the folder only becomes loadable once every weight file is in place.
  const char* torch_dtype = options.dtype == DType::F32 ? "float32" : options.dtype == DType::BF16 ? "bfloat16" : "float16";
  // transformers 5 states the dtype as `dtype` (and prefers it to `torch_dtype`), older versions
  // as `torch_dtype`: whichever the base config has is rewritten, so neither is left stale.
  std::vector<std::pair<std::string, JsonValue>> members;
  bool has_dtype = false;
  for (const auto& m : config.as_object()) {
    if (m.first == "quantization_config") continue;  // the merged weights are dense
    if (m.first == "torch_dtype" || m.first == "dtype") {
      members.push_back({m.first, str(torch_dtype)});
      has_dtype = true;
    } else {
      members.push_back(m);
    }
  }
  if (!has_dtype) members.push_back({"torch_dtype", str(torch_dtype)});
  write_text_atomic(out_dir + "/config.json", json_serialize(JsonValue::make_object(members)) + "\n");
}

}  // namespace tunesmith
