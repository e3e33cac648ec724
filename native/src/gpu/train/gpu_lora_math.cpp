// The LoRA Linear math (gpu_lora_math.h): forward and backward of one adapted Linear through
// gemm.h and ops.h calls. Kept apart from gpu_lora.cpp so it can be tested without a GpuModel.
#include "gpu/train/gpu_lora_math.h"

#include <algorithm>

#include "core/error.h"
#include "gpu/ops.h"

namespace tunesmith::gpu {

namespace lora_detail {

uint64_t lora_mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

namespace {

template <typename T>
void grow(DeviceBuffer<T>& buffer, int64_t count, const char* what) {
  if (int64_t(buffer.size()) < count) buffer.resize(size_t(count), what);
}

// Rows per pass of the adapter path: everything at once without dropout (xd is x itself), else as
// many rows as fit in chunk_elements.
int64_t rows_per_chunk(int64_t n, int64_t in, const LoraDropout& drop, const LoraScratch& scratch) {
  if (drop.p <= 0.0f) return std::max<int64_t>(n, 1);
  return std::max<int64_t>(1, std::min<int64_t>(n, scratch.chunk_elements / std::max<int64_t>(in, 1)));
}

// xd for rows [t0, t0 + rows): x itself, or its dropped copy in scratch.xd.
const bf16* dropped_rows(const bf16* x, int64_t t0, int64_t rows, int64_t in, const LoraDropout& drop,
                         LoraScratch& scratch) {
  if (drop.p <= 0.0f) return x + t0 * in;
  grow(scratch.xd, rows * in, "LoRA dropout input");
  dropout_bf16(scratch.xd.data(), x + t0 * in, rows * in, drop.p, drop.seed, drop.offset + uint64_t(t0 * in));
  return scratch.xd.data();
}

}  // namespace

void lora_linear_forward(bf16* y, const bf16* x, const bf16* w, const bf16* bias, int64_t n, int64_t in, int64_t out,
                         const LoraWeights& lw, const LoraDropout& drop, LoraScratch& scratch) {
  if (n <= 0) return;
  if (!w) throw Error("GPU LoRA forward: no base weight");
  gemm(false, true, n, out, in, 1.0f, x, w, ElementType::BF16, 0.0f, y, ElementType::BF16);  // y = x·Wᵀ
  if (bias) add_bias_bf16(y, bias, n, out);
  if (!lw.a16 || !lw.b16) return;
  const int64_t r = lw.r;
  const int64_t chunk = rows_per_chunk(n, in, drop, scratch);
  grow(scratch.u, chunk * r, "LoRA u");
  for (int64_t t0 = 0; t0 < n; t0 += chunk) {
    const int64_t rows = std::min(chunk, n - t0);
    const bf16* xd = dropped_rows(x, t0, rows, in, drop, scratch);
    gemm(false, true, rows, r, in, 1.0f, xd, lw.a16, ElementType::BF16, 0.0f, scratch.u.data(),
         ElementType::BF16);  // u = xd·Aᵀ
    gemm(false, true, rows, out, r, lw.scaling, scratch.u.data(), lw.b16, ElementType::BF16, 1.0f, y + t0 * out,
         ElementType::BF16);  // y += s·u·Bᵀ
  }
}

void lora_linear_backward(void* dx, ElementType dx_type, const bf16* dy, const bf16* x, const bf16* w, int64_t n,
                          int64_t in, int64_t out, bool accumulate, const LoraWeights& lw, const LoraDropout& drop,
                          LoraScratch& scratch) {
  if (n <= 0) return;
  if (!w) throw Error("GPU LoRA backward: no base weight");
  // dx = (accumulate ? dx : 0) + dy·W
  gemm(false, false, n, in, out, 1.0f, dy, w, ElementType::BF16, accumulate ? 1.0f : 0.0f, dx, dx_type);
  if (!lw.a16 || !lw.b16) return;
  const int64_t r = lw.r;
  const size_t dx_elem = dx_type == ElementType::F32 ? sizeof(float) : sizeof(bf16);
  const int64_t chunk = rows_per_chunk(n, in, drop, scratch);
  grow(scratch.u, chunk * r, "LoRA u");
  grow(scratch.du, chunk * r, "LoRA du");
  for (int64_t t0 = 0; t0 < n; t0 += chunk) {
    const int64_t rows = std::min(chunk, n - t0);
    const bf16* xd = dropped_rows(x, t0, rows, in, drop, scratch);
    const bf16* dy_rows = dy + t0 * out;
    void* dx_rows = static_cast<char*>(dx) + size_t(t0 * in) * dx_elem;
    bf16* u = scratch.u.data();
    bf16* du = scratch.du.data();
    gemm(false, true, rows, r, in, 1.0f, xd, lw.a16, ElementType::BF16, 0.0f, u, ElementType::BF16);  // u = xd·Aᵀ
    // dB[out, r] += s · dyᵀ·u
    gemm(true, false, out, r, rows, lw.scaling, dy_rows, u, ElementType::BF16, 1.0f, lw.grad_b, ElementType::F32);
    // du[rows, r] = s · dy·B
    gemm(false, false, rows, r, out, lw.scaling, dy_rows, lw.b16, ElementType::BF16, 0.0f, du, ElementType::BF16);
    // dA[r, in] += duᵀ·xd
    gemm(true, false, r, in, rows, 1.0f, du, xd, ElementType::BF16, 1.0f, lw.grad_a, ElementType::F32);
    if (drop.p <= 0.0f) {
      gemm(false, false, rows, in, r, 1.0f, du, lw.a16, ElementType::BF16, 1.0f, dx_rows, dx_type);  // dx += du·A
      continue;
    }
    // dx += mask/(1-p) ⊙ (du·A): the product into dxd, masked into xd (free again: dA is done).
    grow(scratch.dxd, rows * in, "LoRA dropout input gradient");
    gemm(false, false, rows, in, r, 1.0f, du, lw.a16, ElementType::BF16, 0.0f, scratch.dxd.data(), ElementType::BF16);
    bf16* masked = scratch.xd.data();
    dropout_bf16(masked, scratch.dxd.data(), rows * in, drop.p, drop.seed, drop.offset + uint64_t(t0 * in));
    if (dx_type == ElementType::BF16) {
      add_bf16(static_cast<bf16*>(dx_rows), masked, rows * in);
    } else {
      grow(scratch.dxd32, rows * in, "LoRA dropout input gradient (fp32)");
      convert_bf16_to_f32(scratch.dxd32.data(), masked, rows * in);
      add_f32(static_cast<float*>(dx_rows), scratch.dxd32.data(), rows * in);
    }
  }
}

}  // namespace lora_detail

}  // namespace tunesmith::gpu
