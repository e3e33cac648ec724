// LoRA and QLoRA on the GPU: a GpuLinearOverride that adds (alpha / r or alpha / sqrt(r)) · B·A·x
// to the frozen base of each targeted Linear, with the same initialisation and meaning as the CPU
// engine's train/lora.h (PEFT-compatible: A kaiming-uniform(a = sqrt(5)) seeded, B = 0). Adapter
// weights, gradients and AdamW states are fp32 (they are small); the products run in bf16 on
// copies made once per forward pass. With quantize_base (QLoRA) every decoder Linear weight is
// quantized to NF4 + double quantization on the card (kernels/nf4.cu, bitsandbytes' layout) and the
// model's bf16 copy is freed; each product dequantizes one weight into a shared bf16 scratch.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "gpu/model/gpu_model.h"
#include "gpu/ops.h"
#include "model/linear_override.h"

namespace tunesmith::gpu {

struct GpuLoraConfig {
  int64_t rank = 16;
  double alpha = 32.0;
  bool rslora = false;
  double dropout = 0.0;
  std::vector<LinearSlot> targets;
  bool quantize_base = false;  // QLoRA
  uint64_t seed = 0;
};

class GpuLora final : public GpuLinearOverride {
 public:
  // Attaches to `model` (installs itself as its override and freezes every base parameter).
  GpuLora(GpuModel& model, const GpuLoraConfig& config);
  ~GpuLora() override;  // detaches

  bool overrides(int64_t layer, LinearSlot slot) const override;
  void begin_forward(bool for_training) override;
  void forward(int64_t layer, LinearSlot slot, bf16* y, const bf16* x, const bf16* w, const bf16* bias, int64_t n,
               int64_t in, int64_t out) override;
  void backward(int64_t layer, LinearSlot slot, void* dx, ElementType dx_type, const bf16* dy, const bf16* x,
                const bf16* w, int64_t n, int64_t in, int64_t out, bool accumulate) override;

  int64_t trainable_parameters() const;
  void zero_grads();
  double grad_sum_squares();
  void adamw_step(const AdamWHyper& h);
  // Host fp32 copies, for parity tests and export: A [r, in] and B [out, r] of (layer, slot).
  std::vector<float> download_a(int64_t layer, LinearSlot slot) const;
  std::vector<float> download_b(int64_t layer, LinearSlot slot) const;
  void upload_a(int64_t layer, LinearSlot slot, const std::vector<float>& a);
  void upload_b(int64_t layer, LinearSlot slot, const std::vector<float>& b);
  std::vector<float> download_grad_a(int64_t layer, LinearSlot slot) const;
  std::vector<float> download_grad_b(int64_t layer, LinearSlot slot) const;
  // Bytes of the NF4 base (QLoRA), 0 otherwise.
  int64_t quantized_base_bytes() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tunesmith::gpu
