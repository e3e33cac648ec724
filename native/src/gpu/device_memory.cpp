#include "gpu/device_memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/error.h"

#if defined(TUNESMITH_GPU_CUDA)
#include <cuda_runtime.h>
#endif

namespace tunesmith::gpu {

namespace {

struct Accounting {
  std::mutex mutex;
  DeviceMemoryStats stats;
};

Accounting& accounting() {
  static Accounting a;
  return a;
}

std::string gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", double(bytes) / double(1LL << 30));
  return text;
}

#if defined(TUNESMITH_GPU_CUDA)
void check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();
  throw Error(std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

void sample_driver_locked(DeviceMemoryStats& s) {
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  s.driver_total_bytes = int64_t(total_bytes);
  s.driver_used_bytes = int64_t(total_bytes - free_bytes);
  s.driver_peak_used_bytes = std::max(s.driver_peak_used_bytes, s.driver_used_bytes);
}
#endif

}  // namespace

DeviceMemoryStats device_memory_stats() {
  Accounting& a = accounting();
  std::lock_guard<std::mutex> lock(a.mutex);
#if defined(TUNESMITH_GPU_CUDA)
  sample_driver_locked(a.stats);
#endif
  return a.stats;
}

void reset_device_peaks() {
  Accounting& a = accounting();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.stats.peak_bytes = a.stats.live_bytes;
#if defined(TUNESMITH_GPU_CUDA)
  a.stats.driver_peak_used_bytes = -1;
  sample_driver_locked(a.stats);
#endif
}

void sample_driver_memory() {
#if defined(TUNESMITH_GPU_CUDA)
  Accounting& a = accounting();
  std::lock_guard<std::mutex> lock(a.mutex);
  sample_driver_locked(a.stats);
#endif
}

void* device_alloc(size_t bytes, const char* what) {
  Accounting& a = accounting();
  void* ptr = nullptr;
#if defined(TUNESMITH_GPU_CUDA)
  const cudaError_t err = cudaMalloc(&ptr, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    cudaGetLastError();
    throw Error(std::string("out of GPU memory allocating ") + gib(int64_t(bytes)) + " for " + what + " (" +
                gib(int64_t(free_bytes)) + " free of " + gib(int64_t(total_bytes)) + "; the engine holds " +
                gib(device_memory_stats().live_bytes) + "): " + cudaGetErrorString(err) +
                ". Try activation checkpointing, a shorter sequence, a smaller batch or QLoRA.");
  }
#else
  // 256-byte alignment, like cudaMalloc, so vectorised kernels see the same alignment here.
  ptr = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!ptr) throw Error(std::string("gpu emulator: out of memory allocating ") + gib(int64_t(bytes)) + " for " + what);
#endif
  std::lock_guard<std::mutex> lock(a.mutex);
  a.stats.live_bytes += int64_t(bytes);
  a.stats.allocations += 1;
  a.stats.peak_bytes = std::max(a.stats.peak_bytes, a.stats.live_bytes);
#if defined(TUNESMITH_GPU_CUDA)
  sample_driver_locked(a.stats);
#endif
  return ptr;
}

void device_free(void* ptr, size_t bytes) {
  if (!ptr) return;
  Accounting& a = accounting();
#if defined(TUNESMITH_GPU_CUDA)
  cudaFree(ptr);  // an error here would come from earlier work; synchronize() reports those
#else
  std::free(ptr);
#endif
  std::lock_guard<std::mutex> lock(a.mutex);
  a.stats.live_bytes -= int64_t(bytes);
  a.stats.allocations -= 1;
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
#if defined(TUNESMITH_GPU_CUDA)
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "copy to GPU");
#else
  std::memcpy(dst, src, bytes);
#endif
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
#if defined(TUNESMITH_GPU_CUDA)
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "copy from GPU");
#else
  std::memcpy(dst, src, bytes);
#endif
}

void copy_on_device(void* dst, const void* src, size_t bytes) {
#if defined(TUNESMITH_GPU_CUDA)
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "copy on GPU");
#else
  std::memmove(dst, src, bytes);
#endif
}

void fill_zero(void* dst, size_t bytes) {
#if defined(TUNESMITH_GPU_CUDA)
  check(cudaMemset(dst, 0, bytes), "clear GPU memory");
#else
  std::memset(dst, 0, bytes);
#endif
}

void synchronize() {
#if defined(TUNESMITH_GPU_CUDA)
  check(cudaDeviceSynchronize(), "GPU work");
#endif
}

}  // namespace tunesmith::gpu
