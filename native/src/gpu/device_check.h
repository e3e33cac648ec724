// Opening the GPU for training: picks the device, refuses what the engine cannot run on with a
// message (never a crash), and makes sure cuBLAS can be loaded before any work starts.
#pragma once
#include <cstdint>
#include <string>

#include "core/cuda_probe.h"

namespace tunesmith::gpu {

// bf16 tensor-core matrix products (and cuBLAS's bf16 GemmEx) need Ampere or newer.
constexpr int kMinComputeMajor = 8;
constexpr int kMinComputeMinor = 0;

struct GpuDeviceInfo {
  std::string name;           // "NVIDIA H100 80GB HBM3", or "CPU emulator"
  int index = 0;
  int cc_major = 0, cc_minor = 0;
  int64_t total_memory = 0;   // bytes (0 in the emulator)
  int multiprocessors = 0;
  int driver_version = 0;
  int runtime_version = 0;
  std::string gemm;           // gemm_provider()
  bool emulated = false;
};

// The reason a probed device cannot be used, or "" when it can (pure, for tests).
std::string unsupported_reason(const CudaDevice& device);

// Opens device $TUNESMITH_CUDA_DEVICE (default 0). Throws tunesmith::Error with a readable reason:
// no driver, no device, compute capability too old, cuBLAS missing.
GpuDeviceInfo open_gpu_device();

}  // namespace tunesmith::gpu
