// The CUDA half of engineInfo(): asks the (statically linked) runtime for the driver and devices.
// Every failure is turned into a readable string, never an abort: the addon must load and answer
// on a machine with no GPU and no driver.
#include <cuda_runtime.h>

#include <string>

#include "core/cuda_probe.h"

namespace tunesmith {

namespace {
std::string describe(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
}
}  // namespace

CudaProbe probe_cuda() {
  CudaProbe probe;
  probe.compiled = true;
  probe.runtime_version = CUDART_VERSION;

  int driver = 0;
  if (cudaDriverGetVersion(&driver) == cudaSuccess) probe.driver_version = driver;
  if (probe.driver_version == 0) {
    probe.error = "no CUDA driver found (libcuda is not installed or could not be loaded)";
    return probe;
  }

  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    probe.error = describe(err);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return probe;
  }
  if (count == 0) {
    probe.error = "the CUDA driver reports no devices";
    return probe;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    err = cudaGetDeviceProperties(&prop, i);
    if (err != cudaSuccess) {
      probe.error = "device " + std::to_string(i) + ": " + describe(err);
      continue;
    }
    CudaDevice dev;
    dev.index = i;
    dev.name = prop.name;
    dev.total_memory = prop.totalGlobalMem;
    dev.cc_major = prop.major;
    dev.cc_minor = prop.minor;
    dev.multiprocessors = prop.multiProcessorCount;
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
      dev.free_memory = free_bytes;
    }
    probe.devices.push_back(dev);
  }
  return probe;
}

}  // namespace tunesmith
