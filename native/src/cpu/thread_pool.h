// A small fixed-size thread pool for the CPU backend.
//
// parallel_for(n, fn) cuts [0, n) into up to 4 chunks per thread and the threads (the caller
// included) claim chunks from a shared counter, so a thread that the OS delays (the machine is
// often shared with builds) does not hold the others up: the caller waits for the chunks to be
// done, never for an idle worker to wake up. Which thread runs which chunk is
// therefore not fixed — every op must compute each index the same way whatever range it lands
// in (they all do: no op reduces across indices of one parallel_for), which is also what makes
// results independent of the thread count and recomputation bit-identical.
//
// Idle workers spin briefly (then yield, then sleep on a condition variable): ops come back to back
// (a training step issues ~200 of them) and a futex wake-up per op would cost more than small
// ops. No spinning when the pool has more threads than the machine has cores.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tunesmith {

class ThreadPool {
 public:
  // threads <= 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // fn(begin, end) over [0, n), possibly several calls per thread. Runs inline when n is small or
  // the pool has one thread. An exception thrown by any chunk is rethrown here after all chunks
  // finish. Not reentrant: fn must not call parallel_for on the same pool.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop();
  void run_chunks(uint32_t generation);
  bool spin_until(const std::function<bool()>& ready) const;

  std::vector<std::thread> workers_;
  bool spin_ = true;  // false when the pool has more threads than the machine has cores
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // The current job. Written by the caller before it publishes claim_ (release); read by a thread
  // only after it has claimed a chunk of that generation, and not rewritten until every chunk of
  // the generation is done, so a late worker never sees a half-written job.
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t chunk_ = 1;
  std::atomic<uint64_t> claim_{0};  // (generation << 32) | (chunk count << 16) | next chunk
  std::atomic<int64_t> done_chunks_{0};
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> sleeping_workers_{0};  // workers blocked (or about to block) on wake_
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> stopping_{false};
  std::exception_ptr error_;
};

}  // namespace tunesmith
