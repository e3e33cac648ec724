// Rotary position embedding in place on bf16, Hugging Face rotate_half convention (gpu/ops.h):
// pairs (j, j + hd/2) of every head of token t rotate by angle = positions[t] · inv_freq[j]:
//
//   x'[j]        = x[j] · cos − x[j + hd/2] · sin
//   x'[j + hd/2] = x[j + hd/2] · cos + x[j] · sin
//
// The angle is formed in fp32 (as HF does); cos/sin are fp32 and, like the CPU backend, are NOT
// rounded to bf16 before the products (HF's bf16 model would round them; we keep the CPU backend's
// fp32 math and round only the result). The inverse (the backward pass) rotates by −angle.
#include "gpu/launch.h"
#include "gpu/ops.h"

namespace tunesmith::gpu {
namespace {

// One thread per (token, head, pair j < hd/2); j fastest, so a warp touches consecutive elements.
__global__ void rope_kernel(bf16* x, const int32_t* positions, const float* inv_freq, int64_t n, int64_t heads,
                            int64_t head_dim, bool inverse) {
  const int64_t half = head_dim / 2;
  const int64_t total = n * heads * half;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t j = i % half;
    const int64_t th = i / half;  // t * heads + h
    const int64_t t = th / heads;
    const float angle = float(positions[t]) * inv_freq[j];
    const float c = cosf(angle);
    const float s = inverse ? -sinf(angle) : sinf(angle);
    bf16* v = x + th * head_dim;
    const float a = bf16_to_float(v[j]), b = bf16_to_float(v[j + half]);
    v[j] = float_to_bf16(a * c - b * s);
    v[j + half] = float_to_bf16(b * c + a * s);
  }
}

}  // namespace

void rope(bf16* x, const int32_t* positions, const float* inv_freq, int64_t n, int64_t heads, int64_t head_dim,
          bool inverse) {
  if (n <= 0 || heads <= 0 || head_dim < 2) return;
  launch("rope", rope_kernel, elementwise_grid(n * heads * (head_dim / 2)), dim3(kElementwiseThreads), 0, x,
         positions, inv_freq, n, heads, head_dim, inverse);
}

}  // namespace tunesmith::gpu
