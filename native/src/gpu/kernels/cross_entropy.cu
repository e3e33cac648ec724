// Cross-entropy on a chunk of fp32 logit rows (gpu/ops.h): one block per row, an online
// max / Σexp per thread (one read of the row), combined by fixed block trees (deterministic), then
// nll = log Σexp(x − max) − (x[target] − max) — the same value as logsumexp − x[target], formed
// without the large lse, so a small nll is accurate to ~1e-7 absolute (fp32 resolution of the sum
// near 1) rather than to an ulp of the lse. With dlogits, a second read of the row writes
// bf16((softmax − onehot(target)) · scale). Ignored rows (target < 0): nll 0, dlogits 0.
#include <algorithm>

#include "gpu/kernels/block_reduce.h"
#include "gpu/launch.h"
#include "gpu/ops.h"

namespace tunesmith::gpu {
namespace {

constexpr int kCrossEntropyThreads = 512;

__global__ void cross_entropy_kernel(float* nll, bf16* dlogits, const float* logits, const int32_t* targets,
                                     int64_t rows, int64_t vocab, float scale) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int32_t target = targets[r];  // the same in every thread: the branches below are block-uniform
    bf16* drow = dlogits ? dlogits + r * vocab : nullptr;
    if (target < 0) {
      if (threadIdx.x == 0) nll[r] = 0.0f;
      if (drow) {
        bf16 zero;
        zero.bits = 0;
        for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) drow[j] = zero;
      }
      continue;
    }
    const float* row = logits + r * vocab;
    // Online: m = running max, s = Σ exp(x − m) of this thread's columns.
    float m = -INFINITY, s = 0.0f;
    for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
      const float x = row[j];
      if (x > m) {
        s = s * expf(m - x) + 1.0f;  // m = −inf at first: s = 0 · 0 + 1
        m = x;
      } else if (x != -INFINITY) {
        s += expf(x - m);
      }
    }
    const float row_max = block_max(m, scratch);
    const float mine = m == -INFINITY ? 0.0f : s * expf(m - row_max);
    const float sum = block_sum(mine, scratch);
    if (threadIdx.x == 0) nll[r] = logf(sum) - (row[target] - row_max);
    if (drow) {
      const float inv_sum = 1.0f / sum;
      for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
        const float p = expf(row[j] - row_max) * inv_sum;
        drow[j] = float_to_bf16((j == target ? p - 1.0f : p) * scale);
      }
    }
  }
}

}  // namespace

void cross_entropy(float* nll, bf16* dlogits, const float* logits, const int32_t* targets, int64_t rows,
                   int64_t vocab, float scale) {
  if (rows <= 0 || vocab <= 0) return;
  const dim3 grid(unsigned(std::min<int64_t>(rows, int64_t(1) << 20)));  // the kernel strides past that
  launch("cross_entropy", cross_entropy_kernel, grid, dim3(kCrossEntropyThreads), 0, nll, dlogits, logits, targets,
         rows, vocab, scale);
}

}  // namespace tunesmith::gpu
