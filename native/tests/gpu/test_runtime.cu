// The runtime under every other GPU test: the emulator's barriers and shuffles (in the emulator
// build) or the card's (in the CUDA build) through small kernels with known answers, device memory
// accounting, and the matrix product in all its transpose and type combinations against a float64
// loop.
#include <cmath>
#include <vector>

#include "core/rng.h"
#include "gpu/device_memory.h"
#include "gpu/gemm.h"
#include "gpu/launch.h"
#include "gpu_test.h"

using namespace tunesmith;
using namespace tunesmith::gpu;
using tunesmith_test::check;
using tunesmith_test::fmt;

namespace {

// One block sums its slice: shared-memory tree (with __syncthreads) down to a warp, then shuffles.
__global__ void block_sum_kernel(float* out, const float* x, int n) {
  __shared__ float partial[256];
  const int t = int(threadIdx.x);
  float s = 0.0f;
  for (int i = int(blockIdx.x) * 256 + t; i < n; i += int(gridDim.x) * 256) s += x[i];
  partial[t] = s;
  __syncthreads();
  for (int stride = 128; stride >= 32; stride /= 2) {
    if (t < stride) partial[t] += partial[t + stride];
    __syncthreads();
  }
  if (t < 32) {
    float v = partial[t];
    for (int m = 16; m > 0; m /= 2) v += __shfl_xor_sync(0xffffffffu, v, m);
    if (t == 0) out[blockIdx.x] = v;
  }
}

// Dynamic shared memory reversal: every thread writes one slot, then reads its mirror.
__global__ void reverse_kernel(int* out, const int* in, int n) {
  TS_DYNAMIC_SHARED(int, buffer);
  const int t = int(threadIdx.x);
  if (t < n) buffer[t] = in[t];
  __syncthreads();
  if (t < n) out[t] = buffer[n - 1 - t];
}

std::vector<float> random_floats(Rng& rng, size_t n) {
  std::vector<float> v(n);
  for (float& x : v) x = float(rng.normal());
  return v;
}

}  // namespace

GPU_TEST(runtime_block_reduction) {
  Rng rng(1);
  const int n = 5000, blocks = 3;
  std::vector<float> x = random_floats(rng, size_t(n));
  DeviceBuffer<float> dx(size_t(n), "x"), dout(size_t(blocks), "out");
  dx.upload(x.data(), x.size());
  launch("block_sum", block_sum_kernel, dim3(blocks), dim3(256), 0, dout.data(), dx.data(), n);
  std::vector<float> out = dout.download();
  double total = 0, ref = 0;
  for (float v : out) total += v;
  for (float v : x) ref += v;
  check(std::fabs(total - ref) < 1e-3, "block reduction with __syncthreads and warp shuffles",
        "got " + fmt(total) + " want " + fmt(ref));
}

GPU_TEST(runtime_dynamic_shared) {
  const int n = 100;
  std::vector<int> in(n);
  for (int i = 0; i < n; ++i) in[size_t(i)] = i * 3;
  DeviceBuffer<int> din(size_t(n), "in"), dout(size_t(n), "out");
  din.upload(in.data(), in.size());
  launch("reverse", reverse_kernel, dim3(1), dim3(128), n * sizeof(int), dout.data(), din.data(), n);
  std::vector<int> out = dout.download();
  bool ok = true;
  for (int i = 0; i < n; ++i) ok = ok && out[size_t(i)] == in[size_t(n - 1 - i)];
  check(ok, "dynamic shared memory is shared by the block");
}

GPU_TEST(runtime_memory_accounting) {
  const DeviceMemoryStats before = device_memory_stats();
  {
    DeviceBuffer<float> a(1000, "a");
    const DeviceMemoryStats during = device_memory_stats();
    check(during.live_bytes - before.live_bytes == 4000, "a buffer's bytes are counted while it lives");
  }
  const DeviceMemoryStats after = device_memory_stats();
  check(after.live_bytes == before.live_bytes && after.peak_bytes >= before.live_bytes + 4000,
        "freed on release, remembered in the peak");
}

GPU_TEST(runtime_gemm_against_float64) {
  Rng rng(2);
  const int64_t m = 37, n = 29, k = 45;
  for (int variant = 0; variant < 16; ++variant) {
    const bool ta = variant & 1, tb = variant & 2;
    const ElementType ab = (variant & 4) ? ElementType::BF16 : ElementType::F32;
    const ElementType ct = (variant & 8) ? ElementType::BF16 : ElementType::F32;
    std::vector<float> a = random_floats(rng, size_t(m * k)), b = random_floats(rng, size_t(k * n));
    std::vector<float> c0 = random_floats(rng, size_t(m * n));
    // Quantise inputs to what the device will see, so the reference differs only by rounding.
    auto quantise = [&](std::vector<float>& v, ElementType t) {
      if (t == ElementType::BF16)
        for (float& x : v) x = bf16_to_float(float_to_bf16(x));
    };
    quantise(a, ab);
    quantise(b, ab);
    quantise(c0, ct);
    auto upload = [&](const std::vector<float>& v, ElementType t, const char* what) {
      DeviceBuffer<uint8_t> d(v.size() * (t == ElementType::BF16 ? 2 : 4), what);
      if (t == ElementType::BF16) {
        std::vector<bf16> h(v.size());
        for (size_t i = 0; i < v.size(); ++i) h[i] = float_to_bf16(v[i]);
        copy_to_device(d.data(), h.data(), h.size() * 2);
      } else {
        copy_to_device(d.data(), v.data(), v.size() * 4);
      }
      return d;
    };
    DeviceBuffer<uint8_t> da = upload(a, ab, "a"), db = upload(b, ab, "b"), dc = upload(c0, ct, "c");
    const float alpha = 0.75f, beta = variant % 3 == 0 ? 0.0f : 0.5f;
    gemm(ta, tb, m, n, k, alpha, da.data(), db.data(), ab, beta, dc.data(), ct);
    std::vector<float> c(size_t(m * n));
    if (ct == ElementType::BF16) {
      std::vector<bf16> h(c.size());
      copy_to_host(h.data(), dc.data(), h.size() * 2);
      for (size_t i = 0; i < c.size(); ++i) c[i] = bf16_to_float(h[i]);
    } else {
      copy_to_host(c.data(), dc.data(), c.size() * 4);
    }
    // Stored layouts: A is [m,k] or [k,m] (ta); B is [k,n] or [n,k] (tb). The random data is read
    // through the same index formulas, so the check is about layout, not the values.
    double diff = 0, ref_norm = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p)
          s += double(a[size_t(ta ? p * m + i : i * k + p)]) * double(b[size_t(tb ? j * k + p : p * n + j)]);
        const double ref = alpha * s + beta * c0[size_t(i * n + j)];
        diff += (c[size_t(i * n + j)] - ref) * (c[size_t(i * n + j)] - ref);
        ref_norm += ref * ref;
      }
    const double rel = std::sqrt(diff / ref_norm);
    // fp32 output: fp32 accumulation error (~1e-6; TF32 is not enabled). bf16 output: one bf16
    // rounding (2^-9 relative) dominates.
    const double tol = ct == ElementType::BF16 ? 4e-3 : 1e-5;
    check(rel < tol, std::string("gemm ") + (ta ? "Aᵀ" : "A") + (tb ? "·Bᵀ" : "·B") +
                         (ab == ElementType::BF16 ? " bf16" : " f32") + (ct == ElementType::BF16 ? "→bf16" : "→f32"),
          "rel err " + fmt(rel));
  }
}
