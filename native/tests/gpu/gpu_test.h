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

// True in the emulator build (tests may shrink shapes there: the emulator is slow).
bool gpu_emulated();
// Repository root (fixtures, shared assets).
std::string repo_root();

}  // namespace tunesmith_test

#define GPU_TEST(name)                                                                            \
  static void name();                                                                             \
  [[maybe_unused]] static const bool name##_registered = tunesmith_test::register_gpu_test(#name, name); \
  static void name()
