// AdamW on the card, with PyTorch's semantics exactly as the CPU backend's adamw_step
// (cpu/optimizers.cpp): decoupled weight decay p *= 1 - lr·wd, then
//   m = β1·m + (1-β1)·g,  v = β2·v + (1-β2)·g²,  p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps),
// with the gradient first multiplied by grad_scale (clipping's factor). All math is fp32; the
// step-dependent constants are computed on the host in double and rounded once, as the CPU does.
#include "gpu/launch.h"
#include "gpu/ops.h"
#include "gpu/philox.h"

#include <cmath>

namespace tunesmith::gpu {
namespace {

struct AdamWConstants {
  float step_size;     // lr / (1 - β1^t)
  float bias2_sqrt;    // sqrt(1 - β2^t)
  float decay;         // 1 - lr·wd
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, grad_scale;
};

AdamWConstants adamw_constants(const AdamWHyper& h) {
  const double bias1 = 1.0 - std::pow(double(h.beta1), double(h.step));
  const double bias2 = 1.0 - std::pow(double(h.beta2), double(h.step));
  AdamWConstants c;
  c.step_size = float(double(h.lr) / bias1);
  c.bias2_sqrt = float(std::sqrt(bias2));
  c.decay = float(1.0 - double(h.lr) * double(h.weight_decay));
  c.beta1 = h.beta1;
  c.one_minus_beta1 = 1.0f - h.beta1;
  c.beta2 = h.beta2;
  c.one_minus_beta2 = 1.0f - h.beta2;
  c.eps = h.eps;
  c.grad_scale = h.grad_scale;
  return c;
}

// One element's update, in the CPU's operation order. m and v are updated in place.
TS_DEVICE float adamw_update(float p, float g, float& m, float& v, const AdamWConstants& c) {
  g = g * c.grad_scale;
  p = p * c.decay;
  m = m * c.beta1 + c.one_minus_beta1 * g;
  v = v * c.beta2 + c.one_minus_beta2 * g * g;
  const float denom = sqrtf(v) / c.bias2_sqrt + c.eps;
  return p - c.step_size * (m / denom);
}

__global__ void adamw_f32_kernel(float* param, const float* grad, float* m, float* v, int64_t n, AdamWConstants c) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    float mi = m[i], vi = v[i];
    param[i] = adamw_update(param[i], grad[i], mi, vi, c);
    m[i] = mi;
    v[i] = vi;
  }
}

// kBf16State: states stored as bf16 (read to fp32, written back round-to-nearest-even); else fp32.
template <bool kBf16State>
__global__ void adamw_bf16_kernel(bf16* param, const float* grad, float* m32, float* v32, bf16* m16, bf16* v16,
                                  int64_t n, AdamWConstants c, uint64_t rounding_seed, uint64_t param_offset) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    float mi, vi;
    if (kBf16State) {
      mi = bf16_to_float(m16[i]);
      vi = bf16_to_float(v16[i]);
    } else {
      mi = m32[i];
      vi = v32[i];
    }
    const float p = adamw_update(bf16_to_float(param[i]), grad[i], mi, vi, c);
    if (kBf16State) {
      m16[i] = float_to_bf16(mi);
      v16[i] = float_to_bf16(vi);
    } else {
      m32[i] = mi;
      v32[i] = vi;
    }
    const uint32_t bits = philox_bits(rounding_seed, kStreamRounding, param_offset + uint64_t(i)).v[0];
    param[i] = float_to_bf16_stochastic(p, bits);
  }
}

}  // namespace

void adamw_f32(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWHyper& h) {
  if (n <= 0) return;
  launch("adamw_f32", adamw_f32_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, param, grad, m, v, n,
         adamw_constants(h));
}

void adamw_bf16(bf16* param, const float* grad, float* m32, float* v32, bf16* m16, bf16* v16, int64_t n,
                const AdamWHyper& h, uint64_t rounding_seed, uint64_t param_offset) {
  if (n <= 0) return;
  const AdamWConstants c = adamw_constants(h);
  if (m16 != nullptr)
    launch("adamw_bf16", adamw_bf16_kernel<true>, elementwise_grid(n), dim3(kElementwiseThreads), 0, param, grad,
           m32, v32, m16, v16, n, c, rounding_seed, param_offset);
  else
    launch("adamw_bf16", adamw_bf16_kernel<false>, elementwise_grid(n), dim3(kElementwiseThreads), 0, param, grad,
           m32, v32, m16, v16, n, c, rounding_seed, param_offset);
}

}  // namespace tunesmith::gpu
