// The CPU emulator behind the kernel dialect (gpu/dialect.h, TUNESMITH_GPU_EMULATION builds).
//
// A launch runs its blocks one after another on the calling thread. Within a block every CUDA
// thread is a fiber (ucontext) with its own stack; a fiber runs until it finishes or reaches a
// barrier (__syncthreads, __syncwarp, a shuffle), and the scheduler resumes the waiting fibers once
// every live thread of the block (or warp) has arrived. That keeps barrier semantics exact, and a
// barrier that could never complete (some threads at __syncthreads, others at a warp barrier) is
// reported instead of hanging.
//
// Not thread-safe: one host thread drives the emulated device at a time (a mutex guards launches).
// Kernels must not throw; a failed check aborts with a message.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>

#if defined(TUNESMITH_GPU_EMULATION) && !defined(__CUDACC__)
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
#endif

namespace tunesmith::gpu::emu {

const dim3& thread_idx();
const dim3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();
int lane_id();
void* dynamic_shared();

void sync_block();
void sync_warp();
// Exchanges 8-byte slots among the lanes of the calling warp: returns what lane `src_lane`
// contributed. Every live lane of the warp must call it.
uint64_t shuffle_bits(uint64_t bits, int src_lane);

template <typename T>
T shuffle(T value, int src_lane) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "shuffle moves at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = shuffle_bits(bits, src_lane);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// Runs `kernel` (a call of the kernel function with its arguments bound) for every block of the
// grid. `name` appears in error messages.
void run_grid(const char* name, dim3 grid, dim3 block, size_t dynamic_shared_bytes, const std::function<void()>& kernel);

// How many kernels and blocks ran (tests check that a path was really taken).
struct Counters {
  int64_t launches = 0;
  int64_t blocks = 0;
};
Counters counters();

}  // namespace tunesmith::gpu::emu
