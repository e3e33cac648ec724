// Training on the GPU: one optimizer step per call for the methods the headline is about, with
// the same hyper-parameter meaning as the CPU trainers (train/trainer.h, lisa.h, zo.h, lora.h).
//
//   full   every parameter trains; AdamW states fp32 (or bf16 with bf16_optimizer_states)
//   lisa   embedding + head (+ final norm) always, `lisa_layers` decoder layers sampled every
//          `lisa_interval` steps; gradients and optimizer states exist only for those
//   lora   LoRA adapters on a frozen bf16 base (fp32 adapter weights, gradients and states)
//   qlora  as lora, base Linear weights NF4 + double quantization on the card
//   zo-sgd two forward passes on θ ± eps·z (out-of-place, see GpuPerturbation), then
//          θ -= lr · g · z regenerated from the seed, with stochastic rounding to bf16
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gpu/model/gpu_model.h"
#include "model/linear_override.h"

namespace tunesmith::gpu {

enum class GpuMethod { Full, Lisa, Lora, Qlora, ZoSgd };
const char* gpu_method_name(GpuMethod m);  // "full", "lisa", "lora", "qlora", "zo-sgd"
GpuMethod parse_gpu_method(const std::string& name);  // throws on an unknown name

struct GpuTrainConfig {
  GpuMethod method = GpuMethod::Lora;
  double lr = 1e-4;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // cosine decay to 0 over total_steps after warmup; 0 = constant
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  double max_grad_norm = 0.0;  // 0 = no clipping
  bool checkpointing = true;
  bool bf16_optimizer_states = false;  // full / lisa: AdamW m, v stored as bf16
  // lora / qlora
  int64_t lora_rank = 16;
  double lora_alpha = 32.0;
  bool rslora = false;
  double lora_dropout = 0.0;
  std::vector<LinearSlot> lora_targets = {LinearSlot::Q,    LinearSlot::K,  LinearSlot::V,   LinearSlot::O,
                                          LinearSlot::Gate, LinearSlot::Up, LinearSlot::Down};
  // lisa
  int64_t lisa_layers = 2;
  int64_t lisa_interval = 20;
  // zo-sgd
  double zo_eps = 1e-3;
  uint64_t seed = 0;
};

struct GpuStepResult {
  int64_t step = 0;          // 1-based, after this step
  double loss = 0.0;         // mean loss of the step (zo: of the + perturbation)
  double lr = 0.0;
  double grad_norm = 0.0;    // before clipping (zo: |projected gradient|)
  std::vector<int64_t> active_layers;  // lisa
};

class GpuTrainer {
 public:
  GpuTrainer(GpuModel& model, const GpuTrainConfig& config);
  ~GpuTrainer();
  GpuStepResult step(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq);
  int64_t trainable_parameters() const;
  const GpuTrainConfig& config() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tunesmith::gpu
