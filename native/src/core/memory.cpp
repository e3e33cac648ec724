#include "core/memory.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace tunesmith {
namespace {
std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};
std::atomic<int64_t> g_count{0};

void raise_peak(int64_t live) {
  int64_t peak = g_peak.load();
  while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
  }
}
}  // namespace

MemoryStats memory_stats() {
  MemoryStats s;
  s.live_bytes = g_live.load();
  s.peak_bytes = g_peak.load();
  s.allocations = g_count.load();
  return s;
}

void reset_peak_memory() { g_peak.store(g_live.load()); }

void* tracked_alloc(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* ptr = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (!ptr) throw Error("out of memory allocating " + std::to_string(bytes) + " bytes");
  raise_peak(g_live.fetch_add(static_cast<int64_t>(bytes)) + static_cast<int64_t>(bytes));
  g_count.fetch_add(1);
  return ptr;
}

void tracked_free(void* ptr, size_t bytes) {
  if (!ptr) return;
  std::free(ptr);
  g_live.fetch_sub(static_cast<int64_t>(bytes));
  g_count.fetch_sub(1);
}

}  // namespace tunesmith
