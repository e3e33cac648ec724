// engineInfo(): what this build of the engine is and what it can run on.
#pragma once
#include <string>
#include <vector>

#include "core/cuda_probe.h"

namespace tunesmith {

struct EngineInfo {
  std::string version;
  std::vector<std::string> backends;  // "cpu" always; "cuda" when compiled in
  unsigned cpu_threads = 0;           // threads the CPU backend uses by default
  std::string compiler;
  CudaProbe cuda;
};

EngineInfo engine_info();

}  // namespace tunesmith
