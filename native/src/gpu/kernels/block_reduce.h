// Warp and block reductions for the kernels (kernel dialect, gpu/dialect.h).
//
// Every reduction here is a fixed tree: the same inputs in the same threads give the same bits on
// every run, and every thread of the warp/block receives the identical result (an xor butterfly
// combines a+b in one lane and b+a in its partner, which IEEE addition makes bit-equal).
//
// Requirements: blockDim.x a multiple of 32 and at most 1024, 1-D blocks; called by every thread
// of the block (the block functions contain __syncthreads).
#pragma once
#include "gpu/dialect.h"

namespace tunesmith::gpu {

template <typename T>
TS_DEVICE T warp_sum(T v) {
  for (int m = 16; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
  return v;
}

TS_DEVICE float warp_max(float v) {
  for (int m = 16; m > 0; m >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, m));
  return v;
}

// Σ v over the block, returned to every thread. `scratch` is a __shared__ array of at least 32 T.
// Starts with a barrier, so the same scratch may be reused by consecutive calls.
template <typename T>
TS_DEVICE T block_sum(T v, T* scratch) {
  v = warp_sum(v);
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, warps = int(blockDim.x) >> 5;
  __syncthreads();  // an earlier call may still be reading scratch
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  return warp_sum(lane < warps ? scratch[lane] : T(0));
}

// max v over the block, returned to every thread (same contract as block_sum).
TS_DEVICE float block_max(float v, float* scratch) {
  v = warp_max(v);
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, warps = int(blockDim.x) >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  return warp_max(lane < warps ? scratch[lane] : -INFINITY);
}

}  // namespace tunesmith::gpu
