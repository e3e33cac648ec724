// test_gpu / test_gpu_emu entry point. Usage: test_gpu [substring]  (runs the cases whose name
// contains it). Without a usable CUDA device the card build prints why and exits 0 with every
// case skipped, so `npm run test:gpu` is safe to run anywhere.
#include <cstdio>
#include <cstring>
#include <exception>

#include "core/error.h"
#include "gpu/device_check.h"
#include "gpu/device_memory.h"
#include "gpu_test.h"

namespace tunesmith_test {

std::vector<GpuTestCase>& gpu_test_cases() {
  static std::vector<GpuTestCase> cases;
  return cases;
}

bool gpu_emulated() {
#if defined(TUNESMITH_GPU_EMULATION)
  return true;
#else
  return false;
#endif
}

std::string repo_root() { return TUNESMITH_REPO_ROOT; }

}  // namespace tunesmith_test

int main(int argc, char** argv) {
  using namespace tunesmith_test;
  const char* suite = gpu_emulated() ? "test_gpu_emu" : "test_gpu";
  const char* filter = argc > 1 ? argv[1] : nullptr;
  tunesmith::gpu::GpuDeviceInfo device;
  try {
    device = tunesmith::gpu::open_gpu_device();
  } catch (const std::exception& e) {
    std::printf("SKIP all GPU tests: %s\n", e.what());
    for (const GpuTestCase& c : gpu_test_cases()) skip(c.name, "no usable CUDA device");
    return finish(suite);
  }
  std::printf("device: %s (cc %d.%d, %d SMs), matrix products: %s\n", device.name.c_str(), device.cc_major,
              device.cc_minor, device.multiprocessors, device.gemm.c_str());
  for (const GpuTestCase& c : gpu_test_cases()) {
    if (filter && !std::strstr(c.name.c_str(), filter)) continue;
    std::printf("--- %s\n", c.name.c_str());
    std::fflush(stdout);
    try {
      c.run();
      tunesmith::gpu::synchronize();
    } catch (const std::exception& e) {
      check(false, c.name, std::string("threw: ") + e.what());
    }
  }
  return finish(suite);
}
