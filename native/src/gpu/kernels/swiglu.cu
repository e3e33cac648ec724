// SwiGLU on bf16 with fp32 math (gpu/ops.h), the CPU backend's formulas (cpu/swiglu.cpp):
//   h = silu(g) · u,  silu(g) = g · σ(g)
//   dg = dh · u · σ(g) · (1 + g · (1 − σ(g))),  du = dh · silu(g)
// Each output is rounded to bf16 once. expf (not __expf): σ must be accurate to fp32.
#include "gpu/launch.h"
#include "gpu/ops.h"

namespace tunesmith::gpu {
namespace {

TS_DEVICE float sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

__global__ void swiglu_forward_kernel(bf16* h, const bf16* gate, const bf16* up, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float g = bf16_to_float(gate[i]);
    h[i] = float_to_bf16((g * sigmoid(g)) * bf16_to_float(up[i]));
  }
}

__global__ void swiglu_backward_kernel(bf16* dgate, bf16* dup, const bf16* dh, const bf16* gate, const bf16* up,
                                       int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float g = bf16_to_float(gate[i]), u = bf16_to_float(up[i]), d = bf16_to_float(dh[i]);
    const float sig = sigmoid(g);
    dgate[i] = float_to_bf16(d * u * sig * (1.0f + g * (1.0f - sig)));
    dup[i] = float_to_bf16(d * (g * sig));
  }
}

}  // namespace

void swiglu_forward(bf16* h, const bf16* gate, const bf16* up, int64_t n) {
  launch("swiglu_forward", swiglu_forward_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, h, gate, up, n);
}

void swiglu_backward(bf16* dgate, bf16* dup, const bf16* dh, const bf16* gate, const bf16* up, int64_t n) {
  launch("swiglu_backward", swiglu_backward_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, dgate, dup, dh,
         gate, up, n);
}

}  // namespace tunesmith::gpu
