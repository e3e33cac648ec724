#include "gpu/emu/emulator.h"

#include <ucontext.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"

namespace tunesmith::gpu::emu {

namespace {

constexpr size_t kStackBytes = 128 * 1024;  // kernels keep small register arrays; 128 KiB is ample
constexpr int kMaxThreadsPerBlock = 1024;
// What a launch gets on the card without cudaFuncSetAttribute (which the engine never calls).
constexpr size_t kMaxDynamicShared = 48 * 1024;

enum class FiberState { Ready, AtBlockBarrier, AtWarpBarrier, Done };

struct Fiber {
  ucontext_t context;
  FiberState state = FiberState::Ready;
  dim3 thread;
};

struct Emulator {
  std::mutex launch_mutex;
  ucontext_t scheduler;
  std::vector<Fiber> fibers;
  char* stacks = nullptr;  // kMaxThreadsPerBlock stacks, allocated once, pages touched lazily
  int current = -1;
  dim3 block, block_size, grid;
  std::vector<unsigned char> dynamic_shared;
  std::vector<uint64_t> shuffle_slots;
  const std::function<void()>* kernel = nullptr;
  const char* name = "";
  Counters counters;
};

Emulator& emulator() {
  static Emulator e;
  return e;
}

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "gpu emulator: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

Fiber& current_fiber() {
  Emulator& e = emulator();
  if (e.current < 0) fail("a kernel-dialect builtin was used outside a kernel launch");
  return e.fibers[size_t(e.current)];
}

void fiber_entry() {
  Emulator& e = emulator();
  (*e.kernel)();
  e.fibers[size_t(e.current)].state = FiberState::Done;
  // Returning resumes uc_link, the scheduler.
}

void wait_at(FiberState barrier) {
  Emulator& e = emulator();
  Fiber& f = current_fiber();
  f.state = barrier;
  swapcontext(&f.context, &e.scheduler);
}

std::string block_name(const Emulator& e) {
  return std::string(e.name) + " block (" + std::to_string(e.block.x) + "," + std::to_string(e.block.y) + "," +
         std::to_string(e.block.z) + ")";
}

// Releases whichever barrier is complete; false when none can ever complete (a deadlock).
bool release_barriers(Emulator& e, int threads) {
  bool released = false;
  for (int warp_start = 0; warp_start < threads; warp_start += 32) {
    const int warp_end = std::min(threads, warp_start + 32);
    int live = 0, waiting = 0;
    for (int t = warp_start; t < warp_end; ++t) {
      if (e.fibers[size_t(t)].state == FiberState::Done) continue;
      ++live;
      if (e.fibers[size_t(t)].state == FiberState::AtWarpBarrier) ++waiting;
    }
    if (live > 0 && waiting == live) {
      for (int t = warp_start; t < warp_end; ++t)
        if (e.fibers[size_t(t)].state == FiberState::AtWarpBarrier) e.fibers[size_t(t)].state = FiberState::Ready;
      released = true;
    }
  }
  if (released) return true;
  for (int t = 0; t < threads; ++t) {
    const FiberState s = e.fibers[size_t(t)].state;
    if (s != FiberState::Done && s != FiberState::AtBlockBarrier) return false;
  }
  for (int t = 0; t < threads; ++t)
    if (e.fibers[size_t(t)].state == FiberState::AtBlockBarrier) e.fibers[size_t(t)].state = FiberState::Ready;
  return true;
}

// Between two barriers the threads of a block run one after another, so a thread that reads what
// another wrote without a barrier in between would see it only when the writer happened to run
// first. To make such a missing barrier show, the order alternates: ascending in one phase,
// descending in the next, and starting the other way round in odd blocks.
void run_block(Emulator& e, int threads, bool start_descending) {
  for (int t = 0; t < threads; ++t) {
    Fiber& f = e.fibers[size_t(t)];
    f.state = FiberState::Ready;
    f.thread = dim3(unsigned(t) % e.block_size.x, (unsigned(t) / e.block_size.x) % e.block_size.y,
                    unsigned(t) / (e.block_size.x * e.block_size.y));
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = e.stacks + size_t(t) * kStackBytes;
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &e.scheduler;
    makecontext(&f.context, fiber_entry, 0);
  }
  bool descending = start_descending;
  for (;;) {
    for (int i = 0; i < threads; ++i) {
      const int t = descending ? threads - 1 - i : i;
      if (e.fibers[size_t(t)].state != FiberState::Ready) continue;
      e.current = t;
      swapcontext(&e.scheduler, &e.fibers[size_t(t)].context);
    }
    descending = !descending;
    e.current = -1;
    bool all_done = true;
    for (int t = 0; t < threads; ++t) all_done = all_done && e.fibers[size_t(t)].state == FiberState::Done;
    if (all_done) return;
    if (!release_barriers(e, threads))
      fail(block_name(e) + ": deadlock, some threads wait at __syncthreads while others wait at a warp barrier");
  }
}

}  // namespace

const dim3& thread_idx() { return current_fiber().thread; }
const dim3& block_idx() { return emulator().block; }
const dim3& block_dim() { return emulator().block_size; }
const dim3& grid_dim() { return emulator().grid; }
int lane_id() { return emulator().current % 32; }
void* dynamic_shared() { return emulator().dynamic_shared.data(); }

void sync_block() { wait_at(FiberState::AtBlockBarrier); }
void sync_warp() { wait_at(FiberState::AtWarpBarrier); }

uint64_t shuffle_bits(uint64_t bits, int src_lane) {
  Emulator& e = emulator();
  const int me = e.current;
  const int warp_start = me - me % 32;
  e.shuffle_slots[size_t(me)] = bits;
  sync_warp();
  const int src = warp_start + src_lane;
  const int threads = int(e.block_size.x * e.block_size.y * e.block_size.z);
  // Reading a lane that does not exist is undefined in CUDA; here it returns the caller's own value.
  const uint64_t out = (src_lane >= 0 && src_lane < 32 && src < threads) ? e.shuffle_slots[size_t(src)] : bits;
  sync_warp();  // nobody overwrites a slot before every lane has read
  return out;
}

void run_grid(const char* name, dim3 grid, dim3 block, size_t dynamic_shared_bytes, const std::function<void()>& kernel) {
  Emulator& e = emulator();
  std::lock_guard<std::mutex> lock(e.launch_mutex);
  const int64_t threads = int64_t(block.x) * block.y * block.z;
  if (threads <= 0 || threads > kMaxThreadsPerBlock)
    throw Error(std::string("kernel ") + name + ": " + std::to_string(threads) + " threads per block (1..1024 allowed)");
  if (dynamic_shared_bytes > kMaxDynamicShared)
    throw Error(std::string("kernel ") + name + ": " + std::to_string(dynamic_shared_bytes) +
                " bytes of dynamic shared memory (at most " + std::to_string(kMaxDynamicShared) + ")");
  if (grid.y > 65535 || grid.z > 65535)
    throw Error(std::string("kernel ") + name + ": grid.y and grid.z must be at most 65535");
  if (!e.stacks) {
    e.stacks = static_cast<char*>(std::malloc(size_t(kMaxThreadsPerBlock) * kStackBytes));
    if (!e.stacks) throw Error("gpu emulator: out of memory for fiber stacks");
    e.fibers.resize(kMaxThreadsPerBlock);
    e.shuffle_slots.resize(kMaxThreadsPerBlock);
  }
  e.kernel = &kernel;
  e.name = name;
  e.grid = grid;
  e.block_size = block;
  e.counters.launches++;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        e.block = dim3(x, y, z);
        // Shared memory starts as NaN bytes: a kernel that reads what it never wrote shows it.
        e.dynamic_shared.assign(dynamic_shared_bytes + 16, 0xff);
        e.counters.blocks++;
        run_block(e, int(threads), ((x + y + z) & 1u) != 0);
      }
  e.kernel = nullptr;
}

Counters counters() { return emulator().counters; }

}  // namespace tunesmith::gpu::emu
