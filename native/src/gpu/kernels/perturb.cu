// Counter-based random numbers on the card (gpu/philox.h): random initialisation, ZO's
// perturbations and updates, dropout. Every draw is a pure function of (seed, stream, index), so a
// perturbation z is regenerated from its seed rather than stored, and the same element gets the
// same number however the launch is shaped.
#include "gpu/launch.h"
#include "gpu/ops.h"
#include "gpu/philox.h"

namespace tunesmith::gpu {
namespace {

__global__ void init_normal_kernel(bf16* x, int64_t n, float std, uint64_t seed, uint64_t offset) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    x[i] = float_to_bf16(std * philox_normal(seed, kStreamInit, offset + uint64_t(i)));
}

__global__ void fill_kernel(bf16* x, bf16 value, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) x[i] = value;
}

__global__ void perturbed_copy_kernel(bf16* dst, const bf16* src, int64_t n, float scale, uint64_t seed,
                                      uint64_t offset) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float z = philox_normal(seed, kStreamPerturbation, offset + uint64_t(i));
    dst[i] = float_to_bf16(bf16_to_float(src[i]) + scale * z);
  }
}

__global__ void zo_update_kernel(bf16* param, int64_t n, float coeff, uint64_t seed, uint64_t offset,
                                 uint64_t rounding_seed) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const uint64_t index = offset + uint64_t(i);
    const float z = philox_normal(seed, kStreamPerturbation, index);
    const float p = bf16_to_float(param[i]) - coeff * z;
    param[i] = float_to_bf16_stochastic(p, philox_bits(rounding_seed, kStreamRounding, index).v[0]);
  }
}

__global__ void dropout_kernel(bf16* out, const bf16* x, int64_t n, float p, uint64_t seed, uint64_t offset) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const float keep_probability = 1.0f - p;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float u = philox_uniform(philox_bits(seed, kStreamDropout, offset + uint64_t(i)).v[0]);
    bf16 value;
    value.bits = 0;  // +0
    if (u > p) value = float_to_bf16(bf16_to_float(x[i]) / keep_probability);
    out[i] = value;
  }
}

}  // namespace

void init_normal_bf16(bf16* x, int64_t n, float std, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  launch("init_normal_bf16", init_normal_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, x, n, std, seed,
         offset);
}

void fill_bf16(bf16* x, float value, int64_t n) {
  if (n <= 0) return;
  launch("fill_bf16", fill_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, x, float_to_bf16(value), n);
}

void perturbed_copy_bf16(bf16* dst, const bf16* src, int64_t n, float scale, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  launch("perturbed_copy_bf16", perturbed_copy_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, dst, src, n,
         scale, seed, offset);
}

void zo_update_bf16(bf16* param, int64_t n, float coeff, uint64_t seed, uint64_t offset, uint64_t rounding_seed) {
  if (n <= 0) return;
  launch("zo_update_bf16", zo_update_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, param, n, coeff, seed,
         offset, rounding_seed);
}

void dropout_bf16(bf16* out, const bf16* x, int64_t n, float p, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  launch("dropout_bf16", dropout_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, out, x, n, p, seed,
         offset);
}

}  // namespace tunesmith::gpu
