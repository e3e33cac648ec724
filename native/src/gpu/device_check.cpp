#include "gpu/device_check.h"

#include <cstdlib>

#include "core/error.h"
#include "gpu/gemm.h"

#if defined(TUNESMITH_GPU_CUDA)
#include <cuda_runtime.h>
#endif

namespace tunesmith::gpu {

std::string unsupported_reason(const CudaDevice& d) {
  if (d.cc_major > kMinComputeMajor || (d.cc_major == kMinComputeMajor && d.cc_minor >= kMinComputeMinor)) return "";
  return "GPU " + std::to_string(d.index) + " (" + d.name + ") has compute capability " + std::to_string(d.cc_major) +
         "." + std::to_string(d.cc_minor) + "; Tunesmith's CUDA engine needs " + std::to_string(kMinComputeMajor) +
         "." + std::to_string(kMinComputeMinor) +
         " (Ampere, RTX 30xx / A100) or newer for bf16 training. Use the CPU backend on this machine.";
}

GpuDeviceInfo open_gpu_device() {
  GpuDeviceInfo info;
#if defined(TUNESMITH_GPU_EMULATION)
  info.name = "CPU emulator";
  info.emulated = true;
  info.cc_major = 9;
  info.gemm = gemm_provider();
  return info;
#else
  const CudaProbe probe = probe_cuda();
  if (probe.devices.empty())
    throw Error("no usable CUDA device: " + (probe.error.empty() ? std::string("none found") : probe.error));
  const char* wanted = std::getenv("TUNESMITH_CUDA_DEVICE");
  const int index = wanted && *wanted ? std::atoi(wanted) : 0;
  const CudaDevice* device = nullptr;
  for (const CudaDevice& d : probe.devices)
    if (d.index == index) device = &d;
  if (!device)
    throw Error("TUNESMITH_CUDA_DEVICE=" + std::to_string(index) + " but the driver reports " +
                std::to_string(probe.devices.size()) + " device(s)");
  const std::string reason = unsupported_reason(*device);
  if (!reason.empty()) throw Error(reason);
  const cudaError_t err = cudaSetDevice(index);
  if (err != cudaSuccess) throw Error(std::string("cudaSetDevice: ") + cudaGetErrorString(err));
  info.name = device->name;
  info.index = index;
  info.cc_major = device->cc_major;
  info.cc_minor = device->cc_minor;
  info.total_memory = int64_t(device->total_memory);
  info.multiprocessors = device->multiprocessors;
  info.driver_version = probe.driver_version;
  info.runtime_version = probe.runtime_version;
  info.gemm = gemm_provider();  // loads cuBLAS now: a missing library is reported before any work
  return info;
#endif
}

}  // namespace tunesmith::gpu
