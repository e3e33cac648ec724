// The kernel dialect: every GPU kernel of the engine is written once, in the subset of CUDA C++
// defined here, and compiled two ways:
//
//  - by nvcc, for the card (TUNESMITH_GPU_CUDA): the names below are CUDA's own;
//  - by the host compiler, for the emulator (TUNESMITH_GPU_EMULATION): each thread of a block runs
//    as a fiber on the CPU (gpu/emu/emulator.h), so __syncthreads, warp shuffles and shared memory
//    keep their meaning. CI has no GPU; this is how the kernels' index arithmetic, tiling and
//    reductions are checked against the CPU backend on every run.
//
// The subset: __global__/__device__ functions, __shared__ arrays (static size) and one dynamic
// shared buffer (TS_DYNAMIC_SHARED), threadIdx/blockIdx/blockDim/gridDim, __syncthreads,
// __syncwarp, __shfl_xor_sync / __shfl_sync called by every live lane of a warp, atomicAdd, and
// the math helpers below. No tensor-core intrinsics, inline PTX or cooperative groups: what the
// emulator cannot run, CI cannot check.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(TUNESMITH_GPU_EMULATION) == defined(TUNESMITH_GPU_CUDA)
#error "define exactly one of TUNESMITH_GPU_EMULATION and TUNESMITH_GPU_CUDA"
#endif

#if defined(TUNESMITH_GPU_EMULATION)
#include "gpu/emu/emulator.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__
#define __launch_bounds__(...)
// Blocks run one after another on one host thread, so a function-local static is exactly "one
// copy per block".
#define __shared__ static
#define threadIdx (::tunesmith::gpu::emu::thread_idx())
#define blockIdx (::tunesmith::gpu::emu::block_idx())
#define blockDim (::tunesmith::gpu::emu::block_dim())
#define gridDim (::tunesmith::gpu::emu::grid_dim())
#define TS_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::tunesmith::gpu::emu::dynamic_shared())
#define TS_DEVICE inline
#define TS_HOST_DEVICE inline

inline void __syncthreads() { ::tunesmith::gpu::emu::sync_block(); }
inline void __syncwarp(unsigned = 0xffffffffu) { ::tunesmith::gpu::emu::sync_warp(); }
template <typename T>
inline T __shfl_xor_sync(unsigned, T value, int lane_mask, int = 32) {
  return ::tunesmith::gpu::emu::shuffle(value, ::tunesmith::gpu::emu::lane_id() ^ lane_mask);
}
template <typename T>
inline T __shfl_sync(unsigned, T value, int src_lane, int width = 32) {
  const int lane = ::tunesmith::gpu::emu::lane_id();
  return ::tunesmith::gpu::emu::shuffle(value, (lane & ~(width - 1)) + (src_lane % width));
}
template <typename T>
inline T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<uint64_t>(a) * b) >> 32);
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
#else
#include <cuda_runtime.h>
#define TS_DYNAMIC_SHARED(type, name) \
  extern __shared__ __align__(16) unsigned char ts_dynamic_shared_raw[]; \
  type* name = reinterpret_cast<type*>(ts_dynamic_shared_raw)
#define TS_DEVICE __device__ __forceinline__
#define TS_HOST_DEVICE __host__ __device__ __forceinline__
#endif

namespace tunesmith::gpu {

constexpr int kWarpSize = 32;

// Bit casts usable on both sides (CUDA's __float_as_uint is device-only).
TS_HOST_DEVICE unsigned float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}
TS_HOST_DEVICE float bits_float(unsigned u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// bf16 storage as raw bits, converted by the same bit arithmetic on the card and in the emulator
// (round to nearest even, NaN kept quiet), so both produce identical bf16 values. Layout-compatible
// with __nv_bfloat16, which is what cuBLAS reads for CUDA_R_16BF.
struct bf16 {
  uint16_t bits;
};

TS_HOST_DEVICE float bf16_to_float(bf16 v) {
  return bits_float(static_cast<unsigned>(v.bits) << 16);
}

TS_HOST_DEVICE bf16 float_to_bf16(float f) {
  const unsigned u = float_bits(f);
  bf16 out;
  if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it a quiet NaN
    out.bits = static_cast<uint16_t>((u >> 16) | 0x0040u);
    return out;
  }
  const unsigned rounding = 0x7fffu + ((u >> 16) & 1u);
  out.bits = static_cast<uint16_t>((u + rounding) >> 16);
  return out;
}

// Stochastic rounding to bf16: adds 16 random bits below the kept mantissa, then truncates, so
// E[result] = f. Used where many tiny updates would otherwise round away (bf16 weights updated by
// an optimizer or a ZO step).
TS_HOST_DEVICE bf16 float_to_bf16_stochastic(float f, unsigned random_bits) {
  const unsigned u = float_bits(f);
  bf16 out;
  if ((u & 0x7f800000u) == 0x7f800000u) {  // inf / NaN: nothing to round
    out = float_to_bf16(f);
    return out;
  }
  out.bits = static_cast<uint16_t>((u + (random_bits & 0xffffu)) >> 16);
  return out;
}

TS_HOST_DEVICE int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace tunesmith::gpu
