// check_kernel (gpu/launch.h): the launch check, with an opt-in synchronous mode for debugging.
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "gpu/launch.h"

namespace tunesmith::gpu {

#if defined(TUNESMITH_GPU_CUDA)
namespace {
bool sync_after_each_kernel() {
  static const bool on = [] {
    const char* v = std::getenv("TUNESMITH_CUDA_SYNC");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}
}  // namespace

void check_kernel(const char* name) {
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess && sync_after_each_kernel()) err = cudaDeviceSynchronize();
  if (err != cudaSuccess)
    throw Error(std::string("CUDA kernel ") + name + " failed: " + cudaGetErrorName(err) + " (" +
                cudaGetErrorString(err) + ")");
}
#else
void check_kernel(const char*) {}
#endif

}  // namespace tunesmith::gpu
