// Built instead of the .cu files when nvcc was not found at build time: the engine then reports
// that no CUDA backend is compiled in, with the reason, rather than pretending to probe.
#include "core/cuda_probe.h"

namespace tunesmith {

CudaProbe probe_cuda() {
  CudaProbe probe;
  probe.compiled = false;
  probe.error = "CUDA backend not compiled in (nvcc was not found when the engine was built)";
  return probe;
}

}  // namespace tunesmith
