#include "core/engine_info.h"

#include <algorithm>
#include <thread>

namespace tunesmith {

namespace {
std::string compiler_name() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__);
#elif defined(_MSC_VER)
  return "msvc " + std::to_string(_MSC_VER);
#else
  return "unknown";
#endif
}
}  // namespace

EngineInfo engine_info() {
  EngineInfo info;
  info.version = TUNESMITH_VERSION;
  info.backends.push_back("cpu");
  info.cpu_threads = std::max(1u, std::thread::hardware_concurrency());
  info.compiler = compiler_name();
  info.cuda = probe_cuda();
  if (info.cuda.compiled) info.backends.push_back("cuda");
  return info;
}

}  // namespace tunesmith
