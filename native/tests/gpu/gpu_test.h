// The GPU test program's harness: each test file registers its cases with GPU_TEST; one main
// (gpu_test_main.cpp) opens the device, runs them and prints the closing count. The same sources
// build test_gpu_emu (kernels on the CPU emulator, in ctest and CI) and test_gpu (on a card,
// `npm run test:gpu`), so every parity check runs in both places.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "../check.h"
#include "gpu/device_memory.h"
#include "gpu/dialect.h"

namespace tunesmith_test {

struct GpuTestCase {
  std::string name;
  std::function<void()> run;
};
std::vector<GpuTestCase>& gpu_test_cases();
inline bool register_gpu_test(const char* name, std::function<void()> run) {
  gpu_test_cases().push_back({name, std::move(run)});
  return true;
}

// bf16 values on the host, as the card stores them (round to nearest even).
inline float round_bf16(float v) { return tunesmith::gpu::bf16_to_float(tunesmith::gpu::float_to_bf16(v)); }
inline std::vector<tunesmith::gpu::bf16> to_bf16(const std::vector<float>& v) {
  std::vector<tunesmith::gpu::bf16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = tunesmith::gpu::float_to_bf16(v[i]);
  return out;
}
inline std::vector<float> to_float(const std::vector<tunesmith::gpu::bf16>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = tunesmith::gpu::bf16_to_float(v[i]);
  return out;
}
// A device copy of v in bf16, and back.
inline tunesmith::gpu::DeviceBuffer<tunesmith::gpu::bf16> upload_bf16(const std::vector<float>& v, const char* what) {
  tunesmith::gpu::DeviceBuffer<tunesmith::gpu::bf16> d(v.size(), what);
  const std::vector<tunesmith::gpu::bf16> h = to_bf16(v);
  d.upload(h.data(), h.size());
  return d;
}
inline std::vector<float> download_bf16(const tunesmith::gpu::DeviceBuffer<tunesmith::gpu::bf16>& d) {
  return to_float(d.download());
}

// True in the emulator build (tests may shrink shapes there: the emulator is slow).
bool gpu_emulated();
// Repository root (fixtures, shared assets).
std::string repo_root();

}  // namespace tunesmith_test

#define GPU_TEST(name)                                                                            \
  static void name();                                                                             \
  [[maybe_unused]] static const bool name##_registered = tunesmith_test::register_gpu_test(#name, name); \
  static void name()
