// The LoRA Linear math of GpuLora (gpu_lora.h) as free functions on device pointers, so it can be
// tested on a single Linear without a GpuModel. Internal to the GPU engine (gpu_lora.cpp and
// tests/gpu/test_gpu_lora.cpp).
//
//   y  = x·Wᵀ (+ bias) + s · (xd·A16ᵀ)·B16ᵀ,   xd = dropout(x) (training, p > 0) else x
//
// A16 [r, in] and B16 [out, r] are the bf16 working copies of the fp32 masters; the low-rank
// intermediate u = xd·A16ᵀ [n, r] is not stored between forward and backward: backward recomputes
// it (n·in·r flops, small next to the base product) and the dropout mask with it (a Philox draw
// keyed on (seed, offset + element), see ops.h dropout_bf16), so nothing per layer lives across the
// pass and checkpoint recomputation needs no bookkeeping.
//
// Backward (fp32 accumulation in every product; dA, dB fp32 and accumulated):
//   u   = xd·A16ᵀ                       (bf16 [n, r])
//   dB += s · dyᵀ·u                     (fp32 [out, r])
//   du  = s · dy·B16                    (bf16 [n, r])
//   dA += duᵀ·xd                        (fp32 [r, in])
//   dx  = (accumulate ? dx : 0) + dy·W + mask/(1-p) ⊙ (du·A16)
// With dropout off the last term is one more product accumulated into dx (beta 1). With dropout
// the term is computed into a bf16 temporary, masked by dropout_bf16 with the forward's key (which
// is exactly multiplying by the mask and 1/(1-p)) and added to dx.
//
// The dropout path works in row chunks of at most `chunk_elements` elements of x so its scratch
// (xd, the masked input gradient and its fp32 copy) stays bounded however many tokens a batch has;
// the mask index of element (t, i) is offset + t·in + i in every chunking.
#pragma once
#include <cstdint>

#include "gpu/device_memory.h"
#include "gpu/dialect.h"
#include "gpu/gemm.h"

namespace tunesmith::gpu::lora_detail {

// Dropout of the adapter input: active when p > 0 (the caller passes p = 0 outside training).
struct LoraDropout {
  float p = 0.0f;
  uint64_t seed = 0;
  uint64_t offset = 0;  // Philox index of element 0 of this Linear's input
};

// Reusable scratch (grown on demand, never shrunk).
struct LoraScratch {
  DeviceBuffer<bf16> u, du;        // [n, r]
  DeviceBuffer<bf16> xd, dxd;      // [chunk rows, in] (dropout only)
  DeviceBuffer<float> dxd32;       // [chunk rows, in] (dropout with an fp32 dx only)
  int64_t chunk_elements = int64_t(1) << 22;
};

// The low-rank adapter of one Linear. a16/b16 null: base only (QLoRA layers without an adapter).
struct LoraWeights {
  const bf16* a16 = nullptr;  // [r, in]
  const bf16* b16 = nullptr;  // [out, r]
  float* grad_a = nullptr;    // [r, in] fp32, accumulated
  float* grad_b = nullptr;    // [out, r] fp32, accumulated
  int64_t r = 0;
  float scaling = 1.0f;
};

// y[n, out] = x·wᵀ + bias + s·(xd·A16ᵀ)·B16ᵀ; w is the bf16 base weight [out, in].
void lora_linear_forward(bf16* y, const bf16* x, const bf16* w, const bf16* bias, int64_t n, int64_t in, int64_t out,
                         const LoraWeights& lw, const LoraDropout& drop, LoraScratch& scratch);

// dx (dx_type) as described above; accumulates lw.grad_a / lw.grad_b.
void lora_linear_backward(void* dx, ElementType dx_type, const bf16* dy, const bf16* x, const bf16* w, int64_t n,
                          int64_t in, int64_t out, bool accumulate, const LoraWeights& lw, const LoraDropout& drop,
                          LoraScratch& scratch);

// splitmix64's finaliser (the CPU LoRA's mix64).
uint64_t lora_mix64(uint64_t z);

}  // namespace tunesmith::gpu::lora_detail
