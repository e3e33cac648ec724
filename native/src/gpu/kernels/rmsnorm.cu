// RMSNorm (gpu/ops.h). Forward as Hugging Face LlamaRMSNorm computes it for a bf16 model:
//
//   rstd = 1 / sqrt(mean(x²) + eps)          (fp32, from the bf16 x)
//   out  = bf16( bf16(x · rstd) · w )         (HF casts the normalised x back to the input dtype
//                                              *before* multiplying by the bf16 weight)
//
// so there are two bf16 roundings, exactly as in PyTorch. The backward treats the forward as
// out = x · rstd · w in fp32 (the CPU backend's formula, cpu/rmsnorm.cpp): with g = dout ⊙ w and
// x̂ = x · rstd,  dx += rstd · (g − x̂ · mean(g ⊙ x̂)),  dw += Σ_t dout ⊙ x̂.
#include <algorithm>

#include "gpu/kernels/block_reduce.h"
#include "gpu/launch.h"
#include "gpu/ops.h"

namespace tunesmith::gpu {
namespace {

constexpr int kRowThreads = 256;

// One block per row (a stride loop past the grid); fp32 sum of squares by a fixed block tree.
__global__ void rmsnorm_forward_kernel(bf16* out, float* rstd, const bf16* x, const bf16* w, int64_t n, int64_t dim,
                                       float eps) {
  __shared__ float scratch[32];
  for (int64_t t = blockIdx.x; t < n; t += gridDim.x) {
    const bf16* xr = x + t * dim;
    float ss = 0.0f;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
      const float v = bf16_to_float(xr[j]);
      ss += v * v;
    }
    ss = block_sum(ss, scratch);  // begins with a barrier: safe to reuse scratch across rows
    const float r = 1.0f / sqrtf(ss / float(dim) + eps);
    if (threadIdx.x == 0) rstd[t] = r;
    bf16* o = out + t * dim;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
      const float normed = bf16_to_float(float_to_bf16(bf16_to_float(xr[j]) * r));  // .to(input_dtype)
      o[j] = float_to_bf16(normed * bf16_to_float(w[j]));
    }
  }
}

// dx for one row per block: dot = Σ (g·w)(x·r) in fp32, then dx += r·(g·w − (x·r)·dot/dim).
__global__ void rmsnorm_backward_dx_kernel(float* dx, const float* dout, const bf16* x, const bf16* w,
                                           const float* rstd, int64_t n, int64_t dim) {
  __shared__ float scratch[32];
  for (int64_t t = blockIdx.x; t < n; t += gridDim.x) {
    const bf16* xr = x + t * dim;
    const float* g = dout + t * dim;
    const float r = rstd[t];
    float dot = 0.0f;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x)
      dot += (g[j] * bf16_to_float(w[j])) * (bf16_to_float(xr[j]) * r);
    dot = block_sum(dot, scratch);
    const float mean_dot = dot / float(dim);
    float* d = dx + t * dim;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x)
      d[j] += r * (g[j] * bf16_to_float(w[j]) - (bf16_to_float(xr[j]) * r) * mean_dot);
  }
}

// dw[j] += Σ_t dout[t, j] · x[t, j] · rstd[t]. Block (32 columns × 8 row groups): thread (x, y)
// sums rows y, y+8, ... of its column in order, thread y = 0 adds the 8 group sums in order.
// Deterministic without atomics; a warp reads 32 consecutive columns of a row.
constexpr int kDwColumns = 32;
constexpr int kDwRowGroups = 8;

__global__ void rmsnorm_backward_dw_kernel(float* dw, const float* dout, const bf16* x, const float* rstd, int64_t n,
                                           int64_t dim) {
  __shared__ float partial[kDwRowGroups][kDwColumns + 1];
  const int64_t j = int64_t(blockIdx.x) * kDwColumns + int64_t(threadIdx.x);
  float s = 0.0f;
  if (j < dim)
    for (int64_t t = threadIdx.y; t < n; t += kDwRowGroups) s += dout[t * dim + j] * (bf16_to_float(x[t * dim + j]) * rstd[t]);
  partial[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && j < dim) {
    float total = 0.0f;
    for (int g = 0; g < kDwRowGroups; ++g) total += partial[g][threadIdx.x];
    dw[j] += total;
  }
}

dim3 row_grid(int64_t n) { return dim3(unsigned(std::min<int64_t>(n, int64_t(1) << 20))); }

}  // namespace

void rmsnorm_forward(bf16* out, float* rstd, const bf16* x, const bf16* w, int64_t n, int64_t dim, float eps) {
  if (n <= 0 || dim <= 0) return;
  launch("rmsnorm_forward", rmsnorm_forward_kernel, row_grid(n), dim3(kRowThreads), 0, out, rstd, x, w, n, dim, eps);
}

void rmsnorm_backward(float* dx, float* dw, const float* dout, const bf16* x, const bf16* w, const float* rstd,
                      int64_t n, int64_t dim) {
  if (n <= 0 || dim <= 0) return;
  launch("rmsnorm_backward_dx", rmsnorm_backward_dx_kernel, row_grid(n), dim3(kRowThreads), 0, dx, dout, x, w, rstd,
         n, dim);
  if (!dw) return;  // frozen weight
  launch("rmsnorm_backward_dw", rmsnorm_backward_dw_kernel, dim3(unsigned(ceil_div(dim, kDwColumns))),
         dim3(kDwColumns, kDwRowGroups), 0, dw, dout, x, rstd, n, dim);
}

}  // namespace tunesmith::gpu
