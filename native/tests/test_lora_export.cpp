// Export formats: bf16/f16 round-to-nearest-even conversions; the PEFT adapter folder (key names,
// config, round trip onto a fresh base with identical logits); the merged model (f32 within 1e-5 of
// base+adapter, bf16 equal to the f32 merge rounded to bf16, sharding with a valid index, QLoRA
// merged onto the dequantized base); errors that name the file and the field or tensor.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <unistd.h>
#include <string>
#include <vector>

#include "assets.h"
#include "check.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/rng.h"
#include "model/json.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "train/lora.h"
#include "train/lora_export.h"

using namespace tunesmith;
using tunesmith_test::check;
using tunesmith_test::fmt;
using tunesmith_test::relative_error;
namespace fs = std::filesystem;

namespace {

float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

void randomize_adapter(LoraAdapter& lora, uint64_t seed) {
  Rng rng(seed);
  for (size_t i = 0; i < lora.linears().num_params(); ++i) lora.linears().params()[i] = float(rng.normal() * 0.05);
}

std::string expect_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

int main() {
  {  // bf16 / f16 rounding.
    check(f32_to_bf16(1.0f) == 0x3F80 && f32_to_bf16(from_bits(0x3F808000)) == 0x3F80 &&
              f32_to_bf16(from_bits(0x3F818000)) == 0x3F82 && f32_to_bf16(from_bits(0x3F808001)) == 0x3F81 &&
              f32_to_bf16(-2.0f) == 0xC000 && f32_to_bf16(from_bits(0x7F7FFFFF)) == 0x7F80 &&
              (f32_to_bf16(std::nanf("")) & 0x7FC0) == 0x7FC0,
          "f32 -> bf16: ties to even, overflow to inf, NaN stays NaN");
    check(f32_to_f16(1.0f) == 0x3C00 && f32_to_f16(65504.0f) == 0x7BFF && f32_to_f16(65519.99f) == 0x7BFF &&
              f32_to_f16(65520.0f) == 0x7C00 && f32_to_f16(std::ldexp(1.0f, -24)) == 0x0001 &&
              f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000 && f32_to_f16(std::ldexp(1.5f, -25)) == 0x0001 &&
              f32_to_f16(std::ldexp(1.0f, -14)) == 0x0400 && f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00 &&
              f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02 && f32_to_f16(-2.0f) == 0xC000 &&
              f32_to_f16(std::ldexp(1023.5f, -24)) == 0x0400 && (f32_to_f16(std::nanf("")) & 0x7E00) == 0x7E00,
          "f32 -> f16: ties to even, subnormals, overflow to inf, NaN stays NaN");
    bool roundtrip = true;
    for (uint32_t h = 0; h < 65536; ++h) {
      const uint16_t bits = uint16_t(h);
      if ((bits & 0x7C00) == 0x7C00 && (bits & 0x3FF)) continue;  // NaN payloads
      roundtrip = roundtrip && f32_to_f16(f16_to_f32(bits)) == bits && f32_to_bf16(bf16_to_f32(bits)) == bits;
    }
    // Halfway between neighbours rounds to the even one, for every f16 value pair.
    bool halfway = true;
    for (uint32_t h = 0x0001; h < 0x7BFF; ++h) {
      const double mid = (double(f16_to_f32(uint16_t(h))) + double(f16_to_f32(uint16_t(h + 1)))) / 2;
      halfway = halfway && f32_to_f16(float(mid)) == ((h & 1) ? h + 1 : h);
    }
    check(roundtrip && halfway, "every f16/bf16 value round-trips; every f16 midpoint rounds to even");
  }

  const std::string dir = assets_dir() + "/models/stories260K-hf";
  if (!path_exists(dir + "/model.safetensors")) {
    tunesmith_test::skip("export tests on stories260K", "assets not found at " + dir);
    return tunesmith_test::finish("test_lora_export");
  }
  const fs::path tmp = fs::temp_directory_path() / ("tunesmith_lora_export_" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  const std::vector<int32_t> tokens = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315,
                                       1, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396};

  auto model = Model::load(dir, 2);
  LoraConfig lc;
  lc.targets = {LinearSlot::Q, LinearSlot::V, LinearSlot::Gate, LinearSlot::Down};
  lc.r = 4;
  lc.alpha = 16;
  lc.use_rslora = true;
  lc.dropout = 0.1;
  lc.train_embeddings = true;
  auto lora = attach_lora(*model, lc);
  randomize_adapter(*lora, 3);
  model->parameters()[model->layout().embed + 5] += 0.25f;  // a "trained" embedding value
  const std::vector<float> logits = model->logits(tokens, 2, 12);

  {  // PEFT adapter folder.
    const std::string out = (tmp / "adapter").string();
    save_peft_adapter(*model, out, "stories260K-hf");
    auto st = SafetensorsFile::open(out + "/adapter_model.safetensors");
    const SafetensorsEntry* a = st->find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    const SafetensorsEntry* b = st->find("base_model.model.model.layers.4.mlp.down_proj.lora_B.weight");
    const SafetensorsEntry* e = st->find("base_model.model.model.embed_tokens.weight");
    check(a && b && e && a->shape == Shape({4, 64}) && b->shape == Shape({64, 4}) && e->shape == Shape({512, 64}) &&
              st->entries().size() == size_t(5 * 4 * 2 + 1),
          "adapter_model.safetensors: PEFT key names and shapes (A [r, in], B [out, r], embed_tokens)");
    const JsonValue cfg = parse_json(read_file(out + "/adapter_config.json"), "adapter_config.json");
    const auto& targets = cfg.find("target_modules")->as_array();
    check(cfg.find("peft_type")->as_string() == "LORA" && cfg.find("task_type")->as_string() == "CAUSAL_LM" &&
              cfg.find("r")->as_int() == 4 && cfg.find("lora_alpha")->as_number() == 16.0 &&
              cfg.find("use_rslora")->as_bool() && cfg.find("lora_dropout")->as_number() == 0.1 &&
              cfg.find("bias")->as_string() == "none" && targets.size() == 4 && targets[2].as_string() == "gate_proj" &&
              cfg.find("modules_to_save")->as_array()[0].as_string() == "embed_tokens" &&
              cfg.find("base_model_name_or_path")->as_string() == "stories260K-hf",
          "adapter_config.json carries PEFT's fields");
    auto fresh = Model::load(dir, 2);
    auto loaded = load_peft_adapter(*fresh, out);
    const std::vector<float> again = fresh->logits(tokens, 2, 12);
    check(std::memcmp(again.data(), logits.data(), logits.size() * 4) == 0 && loaded->config().use_rslora &&
              loaded->config().train_embeddings,
          "adapter round trip: save, load onto a fresh base, bit-identical logits");

    // Errors name the file and the field / tensor; a failed load leaves the base untouched.
    fs::copy(out, (tmp / "broken").string());
    std::string text = read_file(out + "/adapter_config.json");
    text.replace(text.find("\"use_dora\": false"), 17, "\"use_dora\": true");
    { std::ofstream((tmp / "broken" / "adapter_config.json").string()) << text; }
    auto base = Model::load(dir, 2);
    const std::string dora = expect_error([&] { load_peft_adapter(*base, (tmp / "broken").string()); });
    check(dora.find("adapter_config.json") != std::string::npos && dora.find("use_dora") != std::string::npos &&
              base->adapter() == nullptr,
          "unsupported adapter config is rejected naming file and field", dora);
    fs::remove(tmp / "broken" / "adapter_config.json");
    fs::copy(out + "/adapter_config.json", (tmp / "broken" / "adapter_config.json").string());
    std::vector<SafetensorsRawItem> partial;
    for (const auto& entry : st->entries())
      if (entry.name.find("layers.3.mlp.gate_proj.lora_B") == std::string::npos)
        partial.push_back({entry.name, DType::F32, entry.shape, entry.data});
    write_safetensors((tmp / "broken" / "adapter_model.safetensors").string(), partial);
    const std::string missing = expect_error([&] { load_peft_adapter(*base, (tmp / "broken").string()); });
    check(missing.find("layers.3.mlp.gate_proj.lora_B.weight") != std::string::npos &&
              missing.find("adapter_model.safetensors") != std::string::npos && base->adapter() == nullptr,
          "a missing adapter tensor is reported with its name and file", missing);
  }
  {  // Merged model, f32 and bf16.
    const std::string f32_dir = (tmp / "merged-f32").string(), bf16_dir = (tmp / "merged-bf16").string();
    MergedExportOptions o;
    o.dtype = DType::F32;
    save_merged_model(*model, dir, f32_dir, o);
    auto merged = Model::load(f32_dir, 2);
    const std::vector<float> lm = merged->logits(tokens, 2, 12);
    const double err = relative_error(lm.data(), logits.data(), lm.size());
    check(err <= 1e-5, "merged f32 model (W + s·B·A) == base + adapter", "rel err " + fmt(err));
    const JsonValue cfg = parse_json(read_file(f32_dir + "/config.json"), "config.json");
    check(cfg.find("torch_dtype")->as_string() == "float32" && cfg.find("rms_norm_eps")->as_number() == 1e-05 &&
              cfg.find("num_key_value_heads")->as_int() == 4 && path_exists(f32_dir + "/tokenizer.json") &&
              !path_exists(f32_dir + "/model.safetensors.index.json"),
          "merged config.json copied with torch_dtype set; tokenizer copied; one file, no index");

    o.dtype = DType::BF16;
    save_merged_model(*model, dir, bf16_dir, o);
    auto bf16 = Model::load(bf16_dir, 2);
    // Reference: the f32 merge with every weight rounded to bf16 by the same rule.
    for (size_t i = 0; i < merged->num_parameters(); ++i)
      merged->parameters()[i] = bf16_to_f32(f32_to_bf16(merged->parameters()[i]));
    const std::vector<float> lb = bf16->logits(tokens, 2, 12), lref = merged->logits(tokens, 2, 12);
    const double exact = relative_error(lb.data(), lref.data(), lb.size());
    const double vs_f32 = relative_error(lb.data(), logits.data(), lb.size());
    // bf16 keeps 8 significant bits: each weight moves by up to 2^-9 ≈ 0.2% relative; the
    // independent roundings average out in the logits, so ~1e-3 overall; 1e-2 bounds it safely.
    check(exact <= 1e-6 && vs_f32 <= 1e-2 && SafetensorsFile::open(bf16_dir + "/model.safetensors")->entries()[0].dtype == DType::BF16, "merged bf16 == f32 merge rounded to bf16; within bf16 precision of base + adapter",
          "vs rounded reference " + fmt(exact) + ", vs f32 " + fmt(vs_f32));
  }
  {  // Sharding with a small limit.
    const std::string sharded = (tmp / "merged-sharded").string();
    MergedExportOptions o;
    o.dtype = DType::F32;
    o.max_shard_bytes = 200000;
    save_merged_model(*model, dir, sharded, o);
    const JsonValue index = parse_json(read_file(sharded + "/model.safetensors.index.json"), "index");
    int64_t total = 0, count = 0;
    std::set<std::string> files;
    bool sizes_ok = true;
    for (const auto& m : index.find("weight_map")->as_object()) {
      files.insert(m.second.as_string());
      auto st = SafetensorsFile::open(sharded + "/" + m.second.as_string());
      const SafetensorsEntry* e = st->find(m.first);
      sizes_ok = sizes_ok && e != nullptr;
      if (e) total += int64_t(e->nbytes);
      ++count;
    }
    for (const std::string& f : files) sizes_ok = sizes_ok && fs::file_size(sharded + "/" + f) <= 200000 + 4096;
    auto loaded = Model::load(sharded, 2);
    const std::vector<float> ls = loaded->logits(tokens, 2, 12);
    check(files.size() > 1 && *files.begin() == "model-00001-of-0000" + std::to_string(files.size()) + ".safetensors" &&
              index.find("metadata")->find("total_size")->as_int() == total && count == int64_t(loaded->layout().params.size()) &&
              sizes_ok && !path_exists(sharded + "/model.safetensors") &&
              relative_error(ls.data(), logits.data(), ls.size()) <= 1e-5,
          "sharded export: index covers every tensor, total_size matches, shards within the limit, loads back",
          std::to_string(files.size()) + " shards, total_size " + std::to_string(total));
  }
  {  // QLoRA: merged onto the dequantized NF4 base.
    auto q = Model::load(dir, 2);
    LoraConfig qc = lc;
    qc.quantize_base_nf4 = true;
    qc.train_embeddings = false;
    auto ql = attach_lora(*q, qc);
    randomize_adapter(*ql, 4);
    const std::vector<float> lq = q->logits(tokens, 2, 12);
    const std::string out = (tmp / "merged-qlora").string();
    MergedExportOptions o;
    o.dtype = DType::F32;
    save_merged_model(*q, dir, out, o);
    auto merged = Model::load(out, 2);
    const std::vector<float> lm = merged->logits(tokens, 2, 12);
    const double err = relative_error(lm.data(), lq.data(), lm.size());
    check(err <= 1e-5, "QLoRA merged onto the dequantized NF4 base == QLoRA model", "rel err " + fmt(err));
    const std::string adapter_dir = (tmp / "qlora-adapter").string();
    save_peft_adapter(*q, adapter_dir, "stories260K-hf");
    auto q2 = Model::load(dir, 2);
    load_peft_adapter(*q2, adapter_dir, true);
    const std::vector<float> l2 = q2->logits(tokens, 2, 12);
    check(std::memcmp(l2.data(), lq.data(), lq.size() * 4) == 0, "QLoRA adapter round trip onto an NF4 base: identical logits");
  }
  fs::remove_all(tmp);
  return tunesmith_test::finish("test_lora_export");
}
