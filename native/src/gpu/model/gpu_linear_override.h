// The GPU counterpart of model/linear_override.h: lets an adapter (LoRA, QLoRA) take over the
// decoder's Linear layers of a GpuModel. Activations are bf16 as everywhere in the GPU engine; the
// input gradient's type depends on where it goes (fp32 when it is summed with others, e.g. q/k/v
// into the norm's gradient; bf16 when it feeds a kernel directly, e.g. o_proj into attention).
#pragma once
#include <cstdint>

#include "gpu/dialect.h"
#include "gpu/gemm.h"
#include "model/linear_override.h"

namespace tunesmith::gpu {

class GpuLinearOverride {
 public:
  virtual ~GpuLinearOverride() = default;
  // True when (layer, slot) is computed here; its base weight and bias are then frozen.
  virtual bool overrides(int64_t layer, LinearSlot slot) const = 0;
  // Once per forward pass (not for checkpoint recomputation): anything random must be a pure
  // function of what is known here (dropout masks are Philox draws keyed on a per-step seed).
  virtual void begin_forward(bool for_training) = 0;
  // y[n, out] = x[n, in] · W_effᵀ + bias. `w` is the model's bf16 base weight [out, in], or null
  // when the model does not hold it (QLoRA stores it as NF4 in the override).
  virtual void forward(int64_t layer, LinearSlot slot, bf16* y, const bf16* x, const bf16* w, const bf16* bias,
                       int64_t n, int64_t in, int64_t out) = 0;
  // dx[n, in] = (accumulate ? dx : 0) + dy · W_eff, dx of type dx_type; accumulates the override's
  // own parameter gradients. `x` is the input forward saw (saved or recomputed).
  virtual void backward(int64_t layer, LinearSlot slot, void* dx, ElementType dx_type, const bf16* dy, const bf16* x,
                        const bf16* w, int64_t n, int64_t in, int64_t out, bool accumulate) = 0;
};

}  // namespace tunesmith::gpu
