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
// Spin iterations before blocking (a pause is ~10-150 cycles depending on the core: tens of µs).
constexpr int kSpin = 4000;
constexpr int64_t kChunksPerThread = 4;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
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

void ThreadPool::run_chunks() {
  for (;;) {
    const int64_t c = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (c >= chunks_) return;
    const int64_t begin = c * chunk_;
    const int64_t end = std::min(job_n_, begin + chunk_);
    try {
      (*job_)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop() {
  int64_t seen = 0;
  for (;;) {
    // Wait for a new generation: spin, then sleep.
    bool ready = false;
    for (int i = 0; i < kSpin; ++i) {
      if (generation_.load(std::memory_order_acquire) != seen || stopping_.load(std::memory_order_relaxed)) {
        ready = true;
        break;
      }
      TUNESMITH_CPU_RELAX();
    }
    if (!ready) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleeping_workers_.fetch_add(1);  // seq_cst: pairs with the caller's generation_ store
      wake_.wait(lock, [&] { return stopping_.load() || generation_.load() != seen; });
      sleeping_workers_.fetch_sub(1);
    }
    if (stopping_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    run_chunks();
    if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    fn(0, n);
    return;
  }
  const int64_t want = std::min<int64_t>(n, int64_t(size()) * kChunksPerThread);
  job_ = &fn;
  job_n_ = n;
  chunk_ = (n + want - 1) / want;
  chunks_ = (n + chunk_ - 1) / chunk_;
  error_ = nullptr;
  next_chunk_.store(0, std::memory_order_relaxed);
  pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1);  // seq_cst: publishes the job; pairs with sleeping_workers_ below
  if (sleeping_workers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  run_chunks();
  bool done = false;
  for (int i = 0; i < kSpin; ++i) {
    if (pending_.load(std::memory_order_acquire) == 0) {
      done = true;
      break;
    }
    TUNESMITH_CPU_RELAX();
  }
  if (!done) {
    std::unique_lock<std::mutex> lock(mutex_);
    caller_sleeping_.store(true);  // seq_cst: pairs with the workers' pending_ decrement
    done_.wait(lock, [&] { return pending_.load() == 0; });
    caller_sleeping_.store(false);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
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
