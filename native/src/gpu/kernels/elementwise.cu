// Conversions, elementwise arithmetic, the deterministic Σx² and the Linear bias (gpu/ops.h).
// Elementwise kernels are grid-stride loops (int64 indices: buffers may exceed 2^31 elements);
// reductions use fixed trees and fixed grids so the same input always gives the same bits.
#include <algorithm>
#include <vector>

#include "gpu/device_memory.h"
#include "gpu/kernels/block_reduce.h"
#include "gpu/launch.h"
#include "gpu/ops.h"

namespace tunesmith::gpu {
namespace {

TS_DEVICE int64_t first_index() { return int64_t(blockIdx.x) * int64_t(blockDim.x) + int64_t(threadIdx.x); }
TS_DEVICE int64_t grid_stride() { return int64_t(gridDim.x) * int64_t(blockDim.x); }

__global__ void convert_f32_to_bf16_kernel(bf16* dst, const float* src, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) dst[i] = float_to_bf16(src[i]);
}

__global__ void convert_bf16_to_f32_kernel(float* dst, const bf16* src, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) dst[i] = bf16_to_float(src[i]);
}

__global__ void add_bf16_kernel(bf16* y, const bf16* x, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride())
    y[i] = float_to_bf16(bf16_to_float(y[i]) + bf16_to_float(x[i]));
}

__global__ void add_f32_kernel(float* y, const float* x, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) y[i] += x[i];
}

__global__ void scale_f32_kernel(float* x, float factor, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) x[i] *= factor;
}

// Pass one of Σx²: block b sums the elements b, b + grid, ... (per thread in double, then a fixed
// block tree) into partial[b]. The host adds the partials in block order (pass two).
constexpr int kSumSquaresThreads = 256;
constexpr int kSumSquaresMaxBlocks = 512;

__global__ void sum_squares_kernel(double* partial, const float* x, int64_t n) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const double v = double(x[i]);
    acc += v * v;
  }
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// y[t, c] += bias[c]: grid.x covers the columns, grid.y (a stride loop) the rows, so no int64
// division per element.
__global__ void add_bias_bf16_kernel(bf16* y, const bf16* bias, int64_t n, int64_t out) {
  const int64_t c = int64_t(blockIdx.x) * int64_t(blockDim.x) + int64_t(threadIdx.x);
  if (c >= out) return;
  const float b = bf16_to_float(bias[c]);
  for (int64_t t = blockIdx.y; t < n; t += gridDim.y) {
    bf16* p = y + t * out + c;
    *p = float_to_bf16(bf16_to_float(*p) + b);
  }
}

// dbias[c] += Σ_t dy[t, c]. Block (32 columns × 8 row groups): thread (x, y) sums rows y, y+8, ...
// of its column in order, then thread y = 0 adds the 8 group sums in order. Deterministic, no
// atomics; a warp reads 32 consecutive columns of one row.
constexpr int kBiasColumns = 32;
constexpr int kBiasRowGroups = 8;

__global__ void bias_backward_kernel(float* dbias, const bf16* dy, int64_t n, int64_t out) {
  __shared__ float partial[kBiasRowGroups][kBiasColumns + 1];
  const int64_t c = int64_t(blockIdx.x) * kBiasColumns + int64_t(threadIdx.x);
  float s = 0.0f;
  if (c < out)
    for (int64_t t = threadIdx.y; t < n; t += kBiasRowGroups) s += bf16_to_float(dy[t * out + c]);
  partial[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < out) {
    float total = 0.0f;
    for (int g = 0; g < kBiasRowGroups; ++g) total += partial[g][threadIdx.x];
    dbias[c] += total;
  }
}

// Device scratch for Σx²'s per-block partials: allocated once, never freed (4 KiB). The engine
// drives the device from one host thread, so one buffer serves every call.
double* sum_squares_partials() {
  static double* partials =
      static_cast<double*>(device_alloc(kSumSquaresMaxBlocks * sizeof(double), "sum_squares partials"));
  return partials;
}

}  // namespace

void convert_f32_to_bf16(bf16* dst, const float* src, int64_t n) {
  launch("convert_f32_to_bf16", convert_f32_to_bf16_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, dst,
         src, n);
}

void convert_bf16_to_f32(float* dst, const bf16* src, int64_t n) {
  launch("convert_bf16_to_f32", convert_bf16_to_f32_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, dst,
         src, n);
}

void add_bf16(bf16* y, const bf16* x, int64_t n) {
  launch("add_bf16", add_bf16_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, y, x, n);
}

void add_f32(float* y, const float* x, int64_t n) {
  launch("add_f32", add_f32_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, y, x, n);
}

void scale_f32(float* x, float factor, int64_t n) {
  launch("scale_f32", scale_f32_kernel, elementwise_grid(n), dim3(kElementwiseThreads), 0, x, factor, n);
}

double sum_squares_f32(const float* x, int64_t n) {
  if (n <= 0) return 0.0;
  // The grid depends on n only (never on the device), so the summation order is a function of n.
  // At least ~8 elements per thread; at most 512 blocks (enough to fill an H100).
  const int blocks = int(std::min<int64_t>(kSumSquaresMaxBlocks, ceil_div(n, int64_t(kSumSquaresThreads) * 8)));
  double* partials = sum_squares_partials();
  launch("sum_squares_f32", sum_squares_kernel, dim3(unsigned(blocks)), dim3(kSumSquaresThreads), 0, partials, x, n);
  std::vector<double> host(size_t(blocks), 0.0);
  copy_to_host(host.data(), partials, host.size() * sizeof(double));
  double total = 0.0;
  for (double p : host) total += p;
  return total;
}

void add_bias_bf16(bf16* y, const bf16* bias, int64_t n, int64_t out) {
  if (n <= 0 || out <= 0) return;
  const dim3 grid(unsigned(ceil_div(out, kElementwiseThreads)), unsigned(std::min<int64_t>(n, 65535)));
  launch("add_bias_bf16", add_bias_bf16_kernel, grid, dim3(kElementwiseThreads), 0, y, bias, n, out);
}

void bias_backward(float* dbias, const bf16* dy, int64_t n, int64_t out) {
  if (n <= 0 || out <= 0) return;
  launch("bias_backward", bias_backward_kernel, dim3(unsigned(ceil_div(out, kBiasColumns))),
         dim3(kBiasColumns, kBiasRowGroups), 0, dbias, dy, n, out);
}

}  // namespace tunesmith::gpu
