// What the CUDA half of the engine can see: compiled in or not, the runtime and driver versions,
// and each device. Implemented in cuda/cuda_probe.cu when nvcc was found, else cuda/no_cuda.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tunesmith {

struct CudaDevice {
  int index = 0;
  std::string name;
  uint64_t total_memory = 0;  // bytes
  uint64_t free_memory = 0;   // bytes, from cudaMemGetInfo at probe time
  int cc_major = 0;
  int cc_minor = 0;
  int multiprocessors = 0;
};

struct CudaProbe {
  bool compiled = false;       // the CUDA backend is part of this build
  int runtime_version = 0;     // CUDART_VERSION the engine was built against, e.g. 13000
  int driver_version = 0;      // 0 when no driver is installed
  std::vector<CudaDevice> devices;
  std::string error;           // why there are no devices (driver missing, no device, ...); empty when fine
};

CudaProbe probe_cuda();

}  // namespace tunesmith
