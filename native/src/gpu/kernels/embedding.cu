// Token embedding lookup (with ZO's out-of-place perturbation) and its deterministic backward.
#include <algorithm>

#include "gpu/launch.h"
#include "gpu/ops.h"
#include "gpu/philox.h"

namespace tunesmith::gpu {
namespace {

constexpr int kEmbeddingThreads = 256;

// One block per token (a stride loop past the grid), threads over the row's columns.
// With perturb_scale != 0 the value is bf16(table + scale · z(seed, offset + id·dim + j)), rounded
// once: the same number perturbed_copy_bf16 would give the perturbed table, without the copy.
__global__ void embedding_forward_kernel(bf16* out, const int32_t* ids, const bf16* table, int64_t n, int64_t dim,
                                         float perturb_scale, uint64_t perturb_seed, uint64_t perturb_offset) {
  for (int64_t t = blockIdx.x; t < n; t += gridDim.x) {
    const int64_t row = int64_t(ids[t]) * dim;
    bf16* o = out + t * dim;
    if (perturb_scale == 0.0f) {
      for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) o[j] = table[row + j];
    } else {
      for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        const float z = philox_normal(perturb_seed, kStreamPerturbation, perturb_offset + uint64_t(row + j));
        o[j] = float_to_bf16(bf16_to_float(table[row + j]) + perturb_scale * z);
      }
    }
  }
}

// dtable[ids[t], j] += dout[t, j] without atomics: thread (column j, id group g) walks every token
// in order and takes those with ids[t] % groups == g. Two threads never touch the same table
// element, and each element sums its tokens in token order, so the result is deterministic.
// grid.x covers the columns, grid.y = the id groups (a block-uniform branch, no divergence).
constexpr int kEmbeddingBackwardGroups = 16;

__global__ void embedding_backward_kernel(float* dtable, const float* dout, const int32_t* ids, int64_t n,
                                          int64_t dim) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= dim) return;
  const uint32_t group = blockIdx.y, groups = gridDim.y;
  for (int64_t t = 0; t < n; ++t) {
    const int32_t id = ids[t];
    if (uint32_t(id) % groups != group) continue;
    dtable[int64_t(id) * dim + j] += dout[t * dim + j];
  }
}

}  // namespace

void embedding_forward(bf16* out, const int32_t* ids, const bf16* table, int64_t n, int64_t dim, float perturb_scale,
                       uint64_t perturb_seed, uint64_t perturb_offset) {
  if (n <= 0 || dim <= 0) return;
  const dim3 grid(unsigned(std::min<int64_t>(n, int64_t(1) << 20)));  // the kernel strides past 2^20 tokens
  launch("embedding_forward", embedding_forward_kernel, grid, dim3(kEmbeddingThreads), 0, out, ids, table, n, dim,
         perturb_scale, perturb_seed, perturb_offset);
}

void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t n, int64_t dim) {
  if (n <= 0 || dim <= 0) return;
  const dim3 grid(unsigned(ceil_div(dim, kEmbeddingThreads)), unsigned(kEmbeddingBackwardGroups));
  launch("embedding_backward", embedding_backward_kernel, grid, dim3(kEmbeddingThreads), 0, dtable, dout, ids, n,
         dim);
}

}  // namespace tunesmith::gpu
