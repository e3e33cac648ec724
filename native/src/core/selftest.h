// The engine self-test: fp32 matrix products on the CPU checked against a float64 reference, with
// progress per round and cooperative cancellation. It is the first job the trainer process runs,
// and it exercises the same path training will use: long native work off the JS thread, progress
// streamed back, cancel honoured between units of work.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace tunesmith {

struct SelfTestOptions {
  int rounds = 8;      // each round: fresh random inputs, one product, one check
  int size = 256;      // square matrices size x size
  uint64_t seed = 1234;
  unsigned threads = 0;  // 0: hardware concurrency
};

struct SelfTestRound {
  int round = 0;            // 1-based
  int rounds = 0;
  double max_rel_error = 0; // max over checked elements of |c - ref| / (|ref| + 1e-6 * scale)
  double gflops = 0;        // of this round's fp32 product
};

struct SelfTestResult {
  bool passed = false;
  bool cancelled = false;
  int rounds_done = 0;
  double max_rel_error = 0;
  double tolerance = 0;
  double mean_gflops = 0;
  double seconds = 0;
};

// Runs the self-test; calls on_round after each round (from the calling thread). Returns early with
// cancelled = true once `cancel` becomes true. Throws std::invalid_argument on nonsensical options.
SelfTestResult run_self_test(const SelfTestOptions& options, const std::atomic<bool>& cancel,
                             const std::function<void(const SelfTestRound&)>& on_round);

}  // namespace tunesmith
