// LoRA and QLoRA adapters for the Llama Linear layers, with PEFT's semantics:
//
//   y = x·Wᵀ (+ b) + s · (dropout(x)·Aᵀ)·Bᵀ,   A [r, in], B [out, r],   s = α/r (rsLoRA: α/√r)
//
// A starts as nn.Linear's default reset (kaiming_uniform_(a=√5) = U(±1/√in)) from a seeded RNG and
// B as zeros, so a fresh adapter leaves the model's outputs unchanged. The base W is frozen and gets
// no gradient buffer; with quantize_base_nf4 (QLoRA) every decoder Linear is stored as NF4 with
// double-quantized scales (quant/nf4.h) and dequantized on the fly in forward and in the
// input-gradient path. Optionally the embedding and LM head train fully (PEFT modules_to_save).
//
//   auto model = Model::load(dir);
//   LoraConfig cfg;  cfg.targets = lora_target_preset("all-linear");  cfg.r = 16;  cfg.alpha = 32;
//   std::shared_ptr<LoraAdapter> lora = attach_lora(*model, cfg);
//   Trainer trainer(*model, options);   // steps the adapter (and E/H if enabled) only
//   trainer.step({batch});
//   save_peft_adapter(*model, "/out/adapter", "meta-llama/Llama-2-7b-hf");   // train/lora_export.h
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/memory.h"
#include "model/adapter.h"
#include "model/config.h"
#include "model/linear_override.h"
#include "quant/nf4.h"

namespace tunesmith {

class Model;

struct LoraConfig {
  std::vector<LinearSlot> targets = {LinearSlot::Q, LinearSlot::V};  // PEFT's default for Llama
  int64_t r = 8;
  double alpha = 8.0;
  bool use_rslora = false;         // scale α/√r instead of α/r
  double dropout = 0.0;            // on the adapter input, training forwards only
  bool train_embeddings = false;   // full fine-tuning of embed_tokens (PEFT modules_to_save)
  bool train_head = false;         // full fine-tuning of lm_head (the same tensor when tied)
  bool quantize_base_nf4 = false;  // QLoRA: NF4 + double quantization for every decoder Linear
  uint64_t seed = 0;               // A's initialisation and the dropout masks

  double scaling() const;
  // Throws tunesmith::Error naming the offending field.
  void validate() const;
};

// "attention" (q,k,v,o), "all-linear" / "all linear" (q,k,v,o,gate,up,down), "qv" (PEFT's default).
std::vector<LinearSlot> lora_target_preset(const std::string& name);
// "q_proj" or "q" (likewise k, v, o, gate, up, down) -> slot; Error otherwise.
LinearSlot parse_linear_slot(const std::string& name);

// The adapter math on any Backend<T> (T = float in the engine, double in gradient checks).
template <typename T>
class LoraLinears final : public LinearOverride<T> {
 public:
  struct Module {
    int64_t layer = 0;
    LinearSlot slot = LinearSlot::Q;
    int64_t in = 0, out = 0;
    size_t a = 0, b = 0;  // offsets of A [r, in] and B [out, r] in params()
  };

  // Adapters on config.targets in every layer, A initialised from config.seed, B zero.
  LoraLinears(const LlamaConfig& model, const LoraConfig& config, Backend<T>& backend);

  const LoraConfig& config() const { return config_; }
  const std::vector<Module>& modules() const { return modules_; }
  const Module* find(int64_t layer, LinearSlot slot) const;
  T* params() { return params_.data(); }
  const T* params() const { return params_.data(); }
  T* grads() { return grads_.data(); }
  size_t num_params() const { return params_.size(); }
  void zero_grads() { grads_.zero(); }

  // QLoRA: keep (layer, slot)'s base weight [out, in] as NF4 from now on (copied, quantized).
  void quantize_base(int64_t layer, LinearSlot slot, const T* weight);
  const Nf4Tensor* base_nf4(int64_t layer, LinearSlot slot) const;
  size_t nf4_storage_bytes() const;
  // (layer, slot)'s base weight as used in forward: dequantized NF4, or `fp32_weight` when not quantized.
  void base_weight(int64_t layer, LinearSlot slot, const T* fp32_weight, T* out) const;

  // Dropout masks are a pure function of (seed, training forwards so far, layer, slot, element),
  // so they are regenerated for backward and checkpoint recomputation instead of stored; saving
  // and restoring this count makes a resumed run draw the same masks.
  uint64_t training_forwards() const { return training_forwards_; }
  void set_training_forwards(uint64_t count) { training_forwards_ = count; }

  // LinearOverride
  bool overrides(int64_t layer, LinearSlot slot) const override;
  void begin_forward(bool for_training) override;
  void forward(int64_t layer, LinearSlot slot, T* y, const T* x, const T* w, const T* bias, int64_t n, int64_t in,
               int64_t out) override;
  void backward(int64_t layer, LinearSlot slot, T* dx, const T* dy, const T* x, const T* w, int64_t n, int64_t in,
                int64_t out, bool accumulate) override;

 private:
  size_t index(int64_t layer, LinearSlot slot) const { return size_t(layer) * kNumLinearSlots + size_t(slot); }
  // The weight forward/backward multiply by: w itself, or NF4 dequantized into scratch.
  const T* effective_base(int64_t layer, LinearSlot slot, const T* w, int64_t in, int64_t out);
  // dropout(x) into dropped_ (x itself when dropout is off); the mask's scale is applied by `scale_by_mask`.
  const T* dropped_input(int64_t layer, LinearSlot slot, const T* x, int64_t count);
  void scale_by_mask(int64_t layer, LinearSlot slot, T* values, int64_t count) const;
  bool dropout_active() const { return training_ && config_.dropout > 0.0; }

  LoraConfig config_;
  Backend<T>& backend_;
  int64_t num_layers_ = 0;
  int64_t slot_in_[kNumLinearSlots] = {}, slot_out_[kNumLinearSlots] = {};  // [out, in] of each Linear
  double scale_ = 1.0;
  std::vector<Module> modules_;
  std::vector<int> module_at_;  // index(layer, slot) -> modules_ index, -1 when none
  std::vector<std::unique_ptr<Nf4Tensor>> nf4_;  // index(layer, slot) -> quantized base or null
  TrackedBuffer<T> params_, grads_;
  TrackedBuffer<T> dequantized_, dropped_, low_rank_, update_, d_low_rank_, d_dropped_;  // scratch
  bool training_ = false;
  uint64_t training_forwards_ = 0;
};

// LoRA attached to a Model: owns the adapter and says which base parameters stay trainable.
class LoraAdapter final : public ModelAdapter {
 public:
  LoraAdapter(const LlamaConfig& model, const LoraConfig& config, Backend<float>& backend)
      : linears_(model, config, backend) {}
  const LoraConfig& config() const { return linears_.config(); }
  LoraLinears<float>& linears() { return linears_; }
  const LoraLinears<float>& linears() const { return linears_; }

  LinearOverride<float>* linear_override() override { return &linears_; }
  std::vector<bool> trainable_base_parameters(const ParameterLayout& layout) const override;
  TrainableView<float> trainable_spans() override;
  void zero_gradients() override { linears_.zero_grads(); }

 private:
  LoraLinears<float> linears_;
};

// Creates a LoRA (or, with quantize_base_nf4, QLoRA) adapter and attaches it to `model`. QLoRA
// quantizes every decoder Linear and frees the model's fp32 copies. The model must not already
// have an adapter. Create the Trainer afterwards.
std::shared_ptr<LoraAdapter> attach_lora(Model& model, const LoraConfig& config);

}  // namespace tunesmith
