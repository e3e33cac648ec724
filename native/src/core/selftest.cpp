#include "core/selftest.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace tunesmith {

namespace {

// C[M,N] = A[M,K] · B[N,K]^T, rows of C split across threads. B is stored [out, in] as HF Linear
// weights are, so the inner loop runs over contiguous memory in both operands.
void matmul_abt_threaded(const float* a, const float* b, float* c, int m, int n, int k, unsigned threads) {
  auto worker = [&](int row_begin, int row_end) {
    for (int i = row_begin; i < row_end; ++i) {
      const float* ai = a + static_cast<size_t>(i) * k;
      for (int j = 0; j < n; ++j) {
        const float* bj = b + static_cast<size_t>(j) * k;
        float acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;  // four chains so the compiler can vectorise
        int p = 0;
        for (; p + 4 <= k; p += 4) {
          acc0 += ai[p] * bj[p];
          acc1 += ai[p + 1] * bj[p + 1];
          acc2 += ai[p + 2] * bj[p + 2];
          acc3 += ai[p + 3] * bj[p + 3];
        }
        for (; p < k; ++p) acc0 += ai[p] * bj[p];
        c[static_cast<size_t>(i) * n + j] = (acc0 + acc1) + (acc2 + acc3);
      }
    }
  };
  unsigned t = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(m)));
  std::vector<std::thread> pool;
  int chunk = (m + static_cast<int>(t) - 1) / static_cast<int>(t);
  for (unsigned w = 0; w < t; ++w) {
    int begin = static_cast<int>(w) * chunk;
    int end = std::min(m, begin + chunk);
    if (begin < end) pool.emplace_back(worker, begin, end);
  }
  for (auto& th : pool) th.join();
}

}  // namespace

SelfTestResult run_self_test(const SelfTestOptions& options, const std::atomic<bool>& cancel,
                             const std::function<void(const SelfTestRound&)>& on_round) {
  if (options.rounds < 1 || options.rounds > 100000) throw std::invalid_argument("rounds must be between 1 and 100000");
  if (options.size < 1 || options.size > 4096) throw std::invalid_argument("size must be between 1 and 4096");
  const int n = options.size;
  const unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  // fp32 dot products of length n with inputs in [-1, 1]: the rounding error grows about like
  // sqrt(n) * 2^-24 relative to the sum of |terms|; 1e-4 relative to that scale leaves a wide
  // margin yet catches any indexing or threading bug (those give errors of order 1).
  const double tolerance = 1e-4;

  SelfTestResult result;
  result.tolerance = tolerance;
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> a(static_cast<size_t>(n) * n), b(a.size()), c(a.size());
  const auto start = std::chrono::steady_clock::now();
  double gflops_sum = 0;

  for (int round = 1; round <= options.rounds; ++round) {
    if (cancel.load()) {
      result.cancelled = true;
      break;
    }
    for (auto& x : a) x = dist(rng);
    for (auto& x : b) x = dist(rng);
    std::fill(c.begin(), c.end(), std::nanf(""));  // poison: an unwritten element fails the check

    const auto t0 = std::chrono::steady_clock::now();
    matmul_abt_threaded(a.data(), b.data(), c.data(), n, n, n, threads);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // float64 reference on every 7th row (all rows for small sizes) keeps the check cheap.
    double round_err = 0;
    const int row_step = n <= 64 ? 1 : 7;
    for (int i = 0; i < n; i += row_step) {
      for (int j = 0; j < n; ++j) {
        double ref = 0, scale = 0;
        for (int p = 0; p < n; ++p) {
          const double term = static_cast<double>(a[static_cast<size_t>(i) * n + p]) * b[static_cast<size_t>(j) * n + p];
          ref += term;
          scale += std::fabs(term);
        }
        const double got = c[static_cast<size_t>(i) * n + j];
        const double err = std::isfinite(got) ? std::fabs(got - ref) / (scale + 1e-30) : INFINITY;
        round_err = std::max(round_err, err);
      }
    }
    SelfTestRound r;
    r.round = round;
    r.rounds = options.rounds;
    r.max_rel_error = round_err;
    r.gflops = secs > 0 ? 2.0 * n * n * static_cast<double>(n) / secs / 1e9 : 0;
    gflops_sum += r.gflops;
    result.rounds_done = round;
    result.max_rel_error = std::max(result.max_rel_error, round_err);
    on_round(r);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.mean_gflops = result.rounds_done ? gflops_sum / result.rounds_done : 0;
  result.passed = !result.cancelled && result.rounds_done == options.rounds && result.max_rel_error <= tolerance;
  return result;
}

}  // namespace tunesmith
