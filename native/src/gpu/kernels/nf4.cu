// NF4 on the card, in the layout of quant/nf4.h (bitsandbytes' quantize_4bit / dequantize_4bit with
// quant_type="nf4"): two codes per byte, the FIRST element in the HIGH nibble; per-block fp32
// absmax, optionally double-quantized (8-bit dynamic map over absmax - mean, blocks of 256).
//
// Quantization reproduces quantize_nf4 (quant/nf4.cpp) bit for bit: the same fmax reduction (exact
// in any order), the same float reciprocal, the same decision tree and binary search, and the mean
// summed in double in the same sequential order. The dequantizer computes
// absmax = code8[q8]·absmax2 + offset as two separately rounded operations, like the host, so the
// card gives the host's values (nvcc would otherwise fuse them into an FMA).
#include <cfloat>
#include <cstdint>
#include <string>

#include "core/error.h"

#include "gpu/device_memory.h"
#include "gpu/launch.h"
#include "gpu/ops.h"

namespace tunesmith::gpu {
namespace {

// The NF4 codebook (bitsandbytes nf4_dequantization_lut; quant/nf4.cpp nf4_codebook()).
__device__ const float kNf4Codebook[16] = {
    -1.0f,                 -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f,  0.16093020141124725f,  0.24611230194568634f,  0.33791524171829224f,
    0.44070982933044434f,  0.5626170039176941f,   0.7229568362236023f,   1.0f};

// A product rounded on its own, never contracted into an FMA with a following add.
TS_DEVICE float mul_rn(float a, float b) {
#if defined(TUNESMITH_GPU_CUDA)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

// bitsandbytes' dQuantizeNF4 decision tree over the midpoints (quant/nf4.cpp nf4_quantize_value):
// strict '>', so NaN lands on code 0 as there.
TS_DEVICE uint8_t nf4_code(float x) {
  if (x > 0.03979014977812767f) {
    if (x > 0.3893125355243683f) {
      if (x > 0.6427869200706482f) return x > 0.8614784181118011f ? 0b1111 : 0b1110;
      return x > 0.5016634166240692f ? 0b1101 : 0b1100;
    }
    if (x > 0.2035212516784668f) return x > 0.2920137718319893f ? 0b1011 : 0b1010;
    return x > 0.1202552504837513f ? 0b1001 : 0b1000;
  }
  if (x > -0.33967943489551544f) {
    if (x > -0.13791173323988914f) return x > -0.045525018125772476f ? 0b0111 : 0b0110;
    return x > -0.23460740596055984f ? 0b0101 : 0b0100;
  }
  if (x > -0.6106329262256622f) return x > -0.4599952697753906f ? 0b0011 : 0b0010;
  return x > -0.8480964004993439f ? 0b0001 : 0b0000;
}

// bitsandbytes dQuantize<0> (quant/nf4.cpp dynamic_quantize_value): binary search in a sorted
// 256-entry map, then the nearer of the two bracketing entries.
TS_DEVICE uint8_t dynamic_code(const float* code, float x) {
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float val = code[pivot];
  for (int i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      pivot += i;
    } else {
      upper_pivot = pivot;
      pivot -= i;
    }
    val = code[pivot];
  }
  if (upper_pivot == 255) upper_pivot = 254;
  return uint8_t(fabsf(x - code[lower_pivot]) < fabsf(x - code[upper_pivot]) ? lower_pivot : upper_pivot);
}

// The 16 codebook entries in shared memory (indexed lookups; a global table would serialise).
TS_DEVICE void load_codebook(float* lut) {
  if (threadIdx.x < 16) lut[threadIdx.x] = kNf4Codebook[threadIdx.x];
  __syncthreads();
}

// A block's scale in the host's order: code8[q]·absmax2 (rounded on its own), then + offset.
TS_DEVICE float block_scale(const uint8_t* absmax_codes, const float* absmax2, const float* code8, float offset,
                            int64_t b, int shift2) {
  return mul_rn(code8[absmax_codes[b]], absmax2[b >> shift2]) + offset;
}

struct alignas(16) Bf16x8 {
  uint32_t w[4];  // w[k]: element 2k in the low half, 2k + 1 in the high half (little-endian)
};

// Fast path: one thread per 8 elements (4 packed bytes in, 16 bytes out; 8 divides every block
// size, so the 8 share one scale). Pointers 4- and 16-byte aligned (checked by the launcher). The
// tail (numel % 8) is done element by element.
__global__ void nf4_dequantize_vec_kernel(bf16* out, const uint8_t* packed, const uint8_t* absmax_codes,
                                          const float* absmax2, const float* code8, float offset, int64_t numel,
                                          int shift, int shift2) {
  __shared__ float lut[16];
  load_codebook(lut);
  const int64_t groups = numel / 8;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t g = first; g < groups; g += stride) {
    const uint32_t word = reinterpret_cast<const uint32_t*>(packed)[g];
    const float scale = block_scale(absmax_codes, absmax2, code8, offset, (8 * g) >> shift, shift2);
    Bf16x8 o;
    for (int k = 0; k < 4; ++k) {
      const unsigned byte = (word >> (8 * k)) & 0xffu;
      const bf16 hi = float_to_bf16(lut[byte >> 4] * scale), lo = float_to_bf16(lut[byte & 0x0Fu] * scale);
      o.w[k] = uint32_t(hi.bits) | (uint32_t(lo.bits) << 16);
    }
    reinterpret_cast<Bf16x8*>(out)[g] = o;
  }
  for (int64_t i = 8 * groups + first; i < numel; i += stride) {
    const uint8_t byte = packed[i / 2];
    const float scale = block_scale(absmax_codes, absmax2, code8, offset, i >> shift, shift2);
    out[i] = float_to_bf16(lut[(i % 2 == 0) ? (byte >> 4) : (byte & 0x0F)] * scale);
  }
}

// Any alignment: one thread per packed byte (two elements of one block: block sizes are even).
__global__ void nf4_dequantize_kernel(bf16* out, const uint8_t* packed, const uint8_t* absmax_codes,
                                      const float* absmax2, const float* code8, float offset, int64_t numel,
                                      int shift, int shift2) {
  __shared__ float lut[16];
  load_codebook(lut);
  const int64_t bytes = (numel + 1) / 2;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < bytes; j += stride) {
    const int64_t i = 2 * j;
    const float scale = block_scale(absmax_codes, absmax2, code8, offset, i >> shift, shift2);
    const uint8_t byte = packed[j];
    out[i] = float_to_bf16(lut[byte >> 4] * scale);
    if (i + 1 < numel) out[i + 1] = float_to_bf16(lut[byte & 0x0F] * scale);
  }
}

constexpr int kQuantWarps = 8;  // warps per CUDA block; each warp owns one NF4 block at a time

// One warp per NF4 block: lanes take pairs of elements (one byte each), max |x| by warp shuffles
// (fmaxf is exact, so any order gives the host's value), then codes from x · (1/absmax).
__global__ void nf4_quantize_kernel(uint8_t* packed, float* absmax_out, const bf16* x, int64_t numel,
                                    int64_t blocksize) {
  const int lane = int(threadIdx.x) % kWarpSize;
  const int64_t warp = int64_t(blockIdx.x) * kQuantWarps + int64_t(threadIdx.x) / kWarpSize;
  const int64_t warps = int64_t(gridDim.x) * kQuantWarps;
  const int64_t nblocks = ceil_div(numel, blocksize);
  for (int64_t b = warp; b < nblocks; b += warps) {  // uniform across the warp
    const int64_t begin = b * blocksize;
    const int64_t count = numel - begin < blocksize ? numel - begin : blocksize;
    float m = -FLT_MAX;
    for (int64_t k = lane; k < count; k += kWarpSize) m = fmaxf(m, fabsf(bf16_to_float(x[begin + k])));
    for (int mask = kWarpSize / 2; mask > 0; mask /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, mask));
    if (lane == 0) absmax_out[b] = m;
    const float inv = 1.0f / m;
    for (int64_t k = 2 * int64_t(lane); k < count; k += 2 * kWarpSize) {
      // An odd-length final block pads its last pair with 0, as the host does.
      const float first = bf16_to_float(x[begin + k]);
      const float second = k + 1 < count ? bf16_to_float(x[begin + k + 1]) : 0.0f;
      packed[(begin + k) / 2] = uint8_t((nf4_code(first * inv) << 4) | nf4_code(second * inv));
    }
  }
}

// offset = mean(absmax), summed in double in index order by ONE thread: exactly quantize_nf4's
// sum, so the offset (and with it every code) is the host's. Sequential, but it reads only
// numel/64 floats once per tensor, at load time.
__global__ void absmax_mean_kernel(float* offset, const float* absmax, int64_t nblocks) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  double sum = 0.0;
  for (int64_t i = 0; i < nblocks; ++i) sum += double(absmax[i]);
  *offset = float(sum / double(nblocks));
}

constexpr int kDoubleQuantThreads = 256;

// One CUDA block per second-level block: max |absmax - offset| (block reduction of fmaxf, exact),
// then the 8-bit dynamic code of (absmax - offset) · (1/absmax2).
__global__ void double_quantize_kernel(uint8_t* codes, float* absmax2, const float* absmax, const float* code8,
                                       const float* offset_ptr, int64_t nblocks, int64_t blocksize2) {
  __shared__ float code[256];
  __shared__ float warp_max[kDoubleQuantThreads / kWarpSize];
  const int t = int(threadIdx.x);
  for (int k = t; k < 256; k += kDoubleQuantThreads) code[k] = code8[k];
  const float offset = *offset_ptr;
  const int64_t nblocks2 = ceil_div(nblocks, blocksize2);
  for (int64_t b2 = blockIdx.x; b2 < nblocks2; b2 += gridDim.x) {
    const int64_t begin = b2 * blocksize2;
    const int64_t count = nblocks - begin < blocksize2 ? nblocks - begin : blocksize2;
    float m = -FLT_MAX;
    for (int64_t k = t; k < count; k += kDoubleQuantThreads) m = fmaxf(m, fabsf(absmax[begin + k] - offset));
    for (int mask = kWarpSize / 2; mask > 0; mask /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, mask));
    if (t % kWarpSize == 0) warp_max[t / kWarpSize] = m;
    __syncthreads();  // warp maxima written (and, first time round, the code table loaded)
    float block_max = -FLT_MAX;
    for (int w = 0; w < kDoubleQuantThreads / kWarpSize; ++w) block_max = fmaxf(block_max, warp_max[w]);
    __syncthreads();  // every thread has read warp_max before the next iteration overwrites it
    if (t == 0) absmax2[b2] = block_max;
    const float inv = 1.0f / block_max;
    for (int64_t k = t; k < count; k += kDoubleQuantThreads)
      codes[begin + k] = dynamic_code(code, (absmax[begin + k] - offset) * inv);
  }
}

// log2 of a power-of-two block size (a shift replaces 64-bit division in the per-element path).
int block_shift(int64_t blocksize, const char* what) {
  if (blocksize < 8 || (blocksize & (blocksize - 1)) != 0)
    throw Error(std::string(what) + ": block size " + std::to_string(blocksize) + " is not a power of two >= 8");
  int shift = 0;
  while ((int64_t(1) << shift) < blocksize) ++shift;
  return shift;
}

}  // namespace

void nf4_dequantize_bf16(bf16* out, const uint8_t* packed, const uint8_t* absmax_codes, const float* absmax2,
                         const float* code8, float offset, int64_t numel, int64_t blocksize, int64_t blocksize2) {
  if (numel <= 0) return;
  const int shift = block_shift(blocksize, "NF4 dequantize"), shift2 = block_shift(blocksize2, "NF4 dequantize");
  const bool aligned = reinterpret_cast<uintptr_t>(out) % 16 == 0 && reinterpret_cast<uintptr_t>(packed) % 4 == 0;
  if (aligned)
    launch("nf4_dequantize_bf16", nf4_dequantize_vec_kernel, elementwise_grid(numel, 8), dim3(kElementwiseThreads), 0,
           out, packed, absmax_codes, absmax2, code8, offset, numel, shift, shift2);
  else
    launch("nf4_dequantize_bf16", nf4_dequantize_kernel, elementwise_grid((numel + 1) / 2),
           dim3(kElementwiseThreads), 0, out, packed, absmax_codes, absmax2, code8, offset, numel, shift, shift2);
}

void nf4_quantize_bf16(uint8_t* packed, float* absmax, const bf16* x, int64_t numel, int64_t blocksize) {
  if (numel <= 0) return;
  block_shift(blocksize, "NF4 quantize");  // pairs never straddle blocks
  int64_t grid = ceil_div(ceil_div(numel, blocksize), kQuantWarps);
  if (grid > 65535LL * 32) grid = 65535LL * 32;  // the kernel loops over blocks past this
  launch("nf4_quantize_bf16", nf4_quantize_kernel, dim3(unsigned(grid)), dim3(kQuantWarps * kWarpSize), 0, packed,
         absmax, x, numel, blocksize);
}

float nf4_double_quantize(uint8_t* absmax_codes, float* absmax2, const float* absmax, const float* code8,
                          int64_t nblocks, int64_t blocksize2) {
  if (nblocks <= 0) return 0.0f;
  block_shift(blocksize2, "NF4 double quantize");
  DeviceBuffer<float> offset(1, "nf4 double-quant offset");
  launch("nf4_absmax_mean", absmax_mean_kernel, dim3(1), dim3(1), 0, offset.data(), absmax, nblocks);
  int64_t grid = ceil_div(nblocks, blocksize2);
  if (grid > 65535LL * 32) grid = 65535LL * 32;
  launch("nf4_double_quantize", double_quantize_kernel, dim3(unsigned(grid)), dim3(kDoubleQuantThreads), 0,
         absmax_codes, absmax2, absmax, code8, offset.data(), nblocks, blocksize2);
  float host_offset = 0.0f;
  copy_to_host(&host_offset, offset.data(), sizeof host_offset);
  return host_offset;
}

}  // namespace tunesmith::gpu
