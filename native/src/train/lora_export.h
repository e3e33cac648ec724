// Getting a LoRA run out of the engine in the formats the ecosystem reads:
//
//  - A PEFT adapter folder: adapter_config.json + adapter_model.safetensors with PEFT's key names
//    (base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight [r, in], ...lora_B.weight
//    [out, r]; trained embeddings / head as modules_to_save: base_model.model.model.embed_tokens.weight,
//    base_model.model.lm_head.weight), loadable with PeftModel.from_pretrained, and loadable back
//    onto a base Model here.
//  - A merged Hugging Face model folder: W' = W + s·B·A folded into the base (for QLoRA, into the
//    dequantized NF4 base), in f32, bf16 or f16 (round to nearest even), sharded like
//    save_pretrained when larger than the shard limit, config.json copied with its dtype (torch_dtype, and dtype where the base states it) set.
//
// Every file is written to a temporary name and renamed into place; errors name the file and the
// tensor or field.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/dtype.h"
#include "train/lora.h"

namespace tunesmith {

class Model;

// Writes `dir`/adapter_config.json and `dir`/adapter_model.safetensors (F32) for the model's
// attached LoRA adapter (creates `dir`). Throws when the model has no LoRA adapter.
void save_peft_adapter(Model& model, const std::string& dir, const std::string& base_model_name_or_path);

// Parses a PEFT adapter_config.json into a LoraConfig. Rejects what the engine does not implement
// (DoRA, rank/alpha patterns, layers_to_transform, fan_in_fan_out, bias != "none", other modules).
LoraConfig read_peft_adapter_config(const std::string& path);

// Attaches a LoRA adapter read from a PEFT folder to a base model (which must have no adapter),
// optionally storing the base as NF4 (QLoRA). Every expected tensor must be present with its
// shape; unknown tensors are an error.
std::shared_ptr<LoraAdapter> load_peft_adapter(Model& model, const std::string& dir, bool quantize_base_nf4 = false);

struct MergedExportOptions {
  DType dtype = DType::BF16;                      // F32, BF16 or F16
  uint64_t max_shard_bytes = 5000000000ull;       // save_pretrained's default "5GB"
};

// Writes the model (with its LoRA adapter merged in, if any) as a Hugging Face folder `out_dir`:
// model.safetensors, or model-0000i-of-0000n.safetensors + model.safetensors.index.json; then
// config.json from `base_model_dir` with torch_dtype / dtype set (written last, so an interrupted export
// is not loadable), plus the tokenizer and generation files found there.
void save_merged_model(Model& model, const std::string& base_model_dir, const std::string& out_dir,
                       const MergedExportOptions& options = {});

}  // namespace tunesmith
