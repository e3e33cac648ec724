#include "cpu/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TUNESMITH_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define TUNESMITH_CPU_RELAX() asm volatile("yield")
#else
#define TUNESMITH_CPU_RELAX() std::this_thread::yield()
#endif

namespace tunesmith {
namespace {
constexpr int kSpinPause = 2000;  // pause instructions (~10-150 cycles each depending on the core)
constexpr int kSpinYield = 16;    // then sched yields, so a descheduled thread of ours can run
constexpr int64_t kChunksPerThread = 4;
constexpr int64_t kOneIndexPerChunk = 64;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (threads <= 0) threads = cores;
  spin_ = threads <= cores;
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

bool ThreadPool::spin_until(const std::function<bool()>& ready) const {
  if (spin_)
    for (int i = 0; i < kSpinPause; ++i) {
      if (ready()) return true;
      TUNESMITH_CPU_RELAX();
    }
  for (int i = 0; i < kSpinYield; ++i) {
    if (ready()) return true;
    std::this_thread::yield();
  }
  return ready();
}

void ThreadPool::run_chunks(uint32_t generation) {
  for (;;) {
    // claim_ = generation (32 bits) | chunk count (16) | next chunk (16), all in one word, so a
    // thread still looking at an older generation can neither claim nor misread the bound.
    uint64_t v = claim_.load(std::memory_order_acquire);
    int64_t index, chunks;
    for (;;) {
      if (uint32_t(v >> 32) != generation) return;
      index = int64_t(v & 0xffffu);
      chunks = int64_t((v >> 16) & 0xffffu);
      if (index >= chunks) return;
      if (claim_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire)) break;
    }
    const int64_t begin = index * chunk_;
    const int64_t end = std::min(job_n_, begin + chunk_);
    try {
      (*job_)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    if (done_chunks_.fetch_add(1) + 1 == chunks && caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

void ThreadPool::worker_loop() {
  uint32_t seen = 0;
  for (;;) {
    auto ready = [&] {
      return generation_.load(std::memory_order_acquire) != seen || stopping_.load(std::memory_order_relaxed);
    };
    if (!spin_until(ready)) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleeping_workers_.fetch_add(1);  // seq_cst: pairs with the caller's generation_ store
      wake_.wait(lock, [&] { return stopping_.load() || generation_.load() != seen; });
      sleeping_workers_.fetch_sub(1);
    }
    if (stopping_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    run_chunks(seen);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    fn(0, n);
    return;
  }
  // Small n (gemm tiles, attention heads): one index per chunk, so uneven splits like 3+3+2 of
  // 8 chunks never arise. Large n (rows, elements): up to kChunksPerThread chunks per thread.
  const int64_t want = std::min<int64_t>(
      0xffff, n <= kOneIndexPerChunk ? n : std::min<int64_t>(n, int64_t(size()) * kChunksPerThread));
  const int64_t chunk = (n + want - 1) / want;
  const int64_t chunks = (n + chunk - 1) / chunk;
  const uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  job_ = &fn;
  job_n_ = n;
  chunk_ = chunk;
  error_ = nullptr;
  done_chunks_.store(0, std::memory_order_relaxed);
  claim_.store((uint64_t(generation) << 32) | (uint64_t(chunks) << 16));  // seq_cst: publishes the job fields

  generation_.store(generation);             // seq_cst: pairs with sleeping_workers_ below
  if (sleeping_workers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  run_chunks(generation);
  auto done = [&] { return done_chunks_.load(std::memory_order_acquire) == chunks; };
  if (!spin_until(done)) {
    std::unique_lock<std::mutex> lock(mutex_);
    caller_sleeping_.store(true);  // seq_cst: pairs with the finishing thread's done_chunks_ add
    done_.wait(lock, [&] { return done_chunks_.load() == chunks; });
    caller_sleeping_.store(false);
  }
  std::exception_ptr error;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    error = error_;
    error_ = nullptr;
  }
  job_ = nullptr;
  if (error) std::rethrow_exception(error);
}

}  // namespace tunesmith
