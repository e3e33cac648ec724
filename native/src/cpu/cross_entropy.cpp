// Cross-entropy on logits rows with an ignore mask (target < 0), logsumexp with max subtraction
// and the exponent sum in double.
#include <algorithm>
#include <cmath>

#include "cpu/ops.h"

namespace tunesmith {
namespace cpu {
namespace {

template <typename T>
double row_logsumexp(const T* row, int64_t vocab) {
  T max_logit = row[0];
  for (int64_t j = 1; j < vocab; ++j) max_logit = std::max(max_logit, row[j]);
  double sum = 0.0;
  for (int64_t j = 0; j < vocab; ++j) sum += std::exp(double(row[j]) - double(max_logit));
  return double(max_logit) + std::log(sum);
}

}  // namespace

template <typename T>
void cross_entropy_forward(ThreadPool& pool, T* nll, const T* logits, const int32_t* targets, int64_t n,
                           int64_t vocab) {
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      if (targets[t] < 0) {
        nll[t] = T(0);
        continue;
      }
      const T* row = logits + t * vocab;
      nll[t] = T(row_logsumexp(row, vocab) - double(row[targets[t]]));
    }
  });
}

template <typename T>
void cross_entropy_backward(ThreadPool& pool, T* dlogits, const T* logits, const int32_t* targets, int64_t n,
                            int64_t vocab, double scale) {
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      T* drow = dlogits + t * vocab;
      if (targets[t] < 0) {
        std::fill(drow, drow + vocab, T(0));
        continue;
      }
      const T* row = logits + t * vocab;
      const double lse = row_logsumexp(row, vocab);
      for (int64_t j = 0; j < vocab; ++j) drow[j] = T(std::exp(double(row[j]) - lse) * scale);
      drow[targets[t]] -= T(scale);
    }
  });
}

template void cross_entropy_forward<float>(ThreadPool&, float*, const float*, const int32_t*, int64_t, int64_t);
template void cross_entropy_forward<double>(ThreadPool&, double*, const double*, const int32_t*, int64_t, int64_t);
template void cross_entropy_backward<float>(ThreadPool&, float*, const float*, const int32_t*, int64_t, int64_t,
                                            double);
template void cross_entropy_backward<double>(ThreadPool&, double*, const double*, const int32_t*, int64_t, int64_t,
                                             double);

}  // namespace cpu
}  // namespace tunesmith
