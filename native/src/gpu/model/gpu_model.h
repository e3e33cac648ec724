// The Llama decoder on the GPU: the same graph, parameter layout and gradient conventions as the
// CPU engine's Transformer (model/transformer.h), with the GPU engine's mixed precision (ops.h):
// bf16 parameters and activations, fp32 norms' statistics, fp32 residual-stream gradients and fp32
// parameter gradients. The flat parameter layout (ParameterLayout) is the CPU one, so a parameter's
// offset means the same thing on both (LISA routing, ZO's z indexing, parity tests).
//
// Memory strategy (what the estimator in src/main/estimate models):
//  - parameters: bf16, layout.total elements (QLoRA: decoder Linear weights released, kept as NF4
//    by the adapter);
//  - gradients: fp32, only for trainable ranges (set_trainable); frozen parameters get none;
//  - activations with checkpointing (default): each layer's input [n, hidden] bf16, plus one
//    layer's internals recomputed during backward; without: every layer's internals;
//  - attention never stores [seq, seq]: flash-style kernels keep lse[batch, heads, seq] only;
//  - the head runs in chunks of ce_chunk_tokens rows: fp32 logits and bf16 dlogits for one chunk.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "gpu/device_memory.h"
#include "gpu/dialect.h"
#include "gpu/model/gpu_linear_override.h"
#include "model/config.h"
#include "model/parameters.h"
#include "model/transformer.h"

namespace tunesmith::gpu {

// ZO's out-of-place perturbation: while set, every parameter is read as θ + scale · z(seed, offset),
// z from philox.h keyed on the parameter's flat offset. θ itself is never modified, so restoring
// is exact even in bf16.
struct GpuPerturbation {
  float scale = 0.0f;
  uint64_t seed = 0;
};

// A parameter range [offset, offset + count) of the flat layout that receives gradients.
struct ParamRange {
  size_t offset = 0;
  size_t count = 0;
};

class GpuModel {
 public:
  // Uploads a host model's parameters as bf16 (round to nearest even), same layout.
  //
  // linear_weights = false (QLoRA without ever holding the whole bf16 model on the card): the
  // decoder Linear weights are left out (the layout is the compacted one release_linear_weights
  // produces) and linear_weight() makes each of them on request from the source. For upload() the
  // host model must then outlive that (QLoRA quantizes at attach time, then releases the source).
  static std::unique_ptr<GpuModel> upload(const Transformer<float>& host, bool linear_weights = true);
  // Random weights made on the card (benchmarks; nothing is read from disk): matrices N(0, std),
  // norm weights 1, biases 0. Values depend only on (seed, the tensor's offset in the full layout),
  // so a model made with linear_weights = false produces the same Linear weights on request.
  static std::unique_ptr<GpuModel> random(const LlamaConfig& config, uint64_t seed, float std = 0.02f,
                                          bool linear_weights = true);
  ~GpuModel();

  const LlamaConfig& config() const;
  const ParameterLayout& layout() const;
  bf16* params();
  std::vector<float> download_params() const;  // fp32 copies of the bf16 values, flat layout

  void set_checkpointing(bool on);
  bool checkpointing() const;
  // Rows of the head (logits) computed at once; bounds the fp32 logits buffer.
  void set_ce_chunk_tokens(int64_t rows);

  // Adapters: routes overridden Linear layers through `o` (not owned; null restores).
  void set_linear_override(GpuLinearOverride* o);
  // Frees the bf16 decoder Linear weights (QLoRA keeps them as NF4); the layout is compacted as
  // the CPU engine does, trainable ranges are cleared. Also drops the source of a model made with
  // linear_weights = false.
  void release_linear_weights();
  // True while the model holds its bf16 decoder Linear weights.
  bool holds_linear_weights() const;
  // Writes decoder Linear (layer, slot)'s bf16 weight [out, in] into dst: a copy of the held weight,
  // or one made from the source. Throws when the model has neither.
  void linear_weight(int64_t layer, LinearSlot slot, bf16* dst);

  // Which parameters train: fp32 gradient storage is allocated for these ranges only (freed for
  // ranges that are dropped); every other parameter is frozen (no weight gradient computed).
  void set_trainable(const std::vector<ParamRange>& ranges);
  const std::vector<ParamRange>& trainable() const;
  // Gradient storage of the range starting exactly at `offset`, or null.
  float* grad_of_range(size_t offset);
  void zero_grads();
  double grad_sum_squares();  // Σ g² over all trainable ranges (for clipping)

  // Forward only: mean loss over targeted tokens (targets < 0 ignored; 0 when none). tokens and
  // targets are host arrays [batch*seq]. With `perturb`, runs on θ + scale·z.
  double loss(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq,
              const GpuPerturbation* perturb = nullptr);
  // Forward and backward: accumulates d(loss · grad_scale)/dθ into the trainable gradients and
  // returns the mean loss.
  double forward_backward(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq,
                          double grad_scale = 1.0);
  // Logits [batch*seq, vocab] as fp32 on the host (parity tests; small models only).
  std::vector<float> logits(const int32_t* tokens, int64_t batch, int64_t seq);

  struct Impl;

 private:
  explicit GpuModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tunesmith::gpu
