// Kernel launches, the one place that differs between the card and the emulator. Include only
// from .cu files (the CUDA branch uses the <<<>>> syntax).
//
//   launch("rmsnorm_forward", rmsnorm_forward_kernel, grid, block, shared_bytes, out, x, ...);
//
// On the card every launch is checked (cudaGetLastError); with TUNESMITH_CUDA_SYNC=1 in the
// environment it also synchronizes and checks, so a fault is reported at the kernel that caused it
// rather than at some later copy.
#pragma once
#include <cstddef>
#include <utility>

#include "gpu/dialect.h"

namespace tunesmith::gpu {

// Throws tunesmith::Error naming the kernel when the launch (or, in sync mode, the kernel) failed.
void check_kernel(const char* name);

#if defined(TUNESMITH_GPU_EMULATION)
template <typename... KernelArgs, typename... Args>
void launch(const char* name, void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t shared_bytes,
            Args&&... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  emu::run_grid(name, grid, block, shared_bytes, [&] { kernel(static_cast<KernelArgs>(args)...); });
}
#else
template <typename... KernelArgs, typename... Args>
void launch(const char* name, void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t shared_bytes,
            Args&&... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  kernel<<<grid, block, shared_bytes>>>(static_cast<KernelArgs>(args)...);
  check_kernel(name);
}
#endif

// Threads per block for simple elementwise kernels, and the grid that covers n elements.
constexpr int kElementwiseThreads = 256;
inline dim3 elementwise_grid(int64_t n, int64_t per_thread = 1) {
  const int64_t threads = (n + per_thread - 1) / per_thread;
  int64_t blocks = (threads + kElementwiseThreads - 1) / kElementwiseThreads;
  if (blocks > 65535LL * 32) blocks = 65535LL * 32;  // kernels loop (grid-stride) past this
  return dim3(static_cast<unsigned>(blocks));
}

}  // namespace tunesmith::gpu
