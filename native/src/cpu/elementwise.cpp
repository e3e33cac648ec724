#include <algorithm>
#include <vector>

#include "cpu/ops.h"

namespace tunesmith {
namespace cpu {

template <typename T>
void add_inplace(ThreadPool& pool, T* y, const T* x, int64_t n) {
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] += x[i];
  });
}

template <typename T>
void scale_inplace(ThreadPool& pool, T* x, double factor, int64_t n) {
  const T f = T(factor);
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) x[i] *= f;
  });
}

// A fixed number of chunks (not one per thread) so the summation order, and therefore the
// gradient norm used for clipping, is the same whatever the thread count.
template <typename T>
double sum_squares(ThreadPool& pool, const T* x, int64_t n) {
  constexpr int64_t kChunks = 64;
  std::vector<double> partial(kChunks, 0.0);
  const int64_t chunk = (n + kChunks - 1) / kChunks;
  pool.parallel_for(kChunks, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double s = 0.0;
      const int64_t i0 = std::min(n, c * chunk), i1 = std::min(n, i0 + chunk);
      for (int64_t i = i0; i < i1; ++i) s += double(x[i]) * double(x[i]);
      partial[c] = s;
    }
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

template void add_inplace<float>(ThreadPool&, float*, const float*, int64_t);
template void add_inplace<double>(ThreadPool&, double*, const double*, int64_t);
template void scale_inplace<float>(ThreadPool&, float*, double, int64_t);
template void scale_inplace<double>(ThreadPool&, double*, double, int64_t);
template double sum_squares<float>(ThreadPool&, const float*, int64_t);
template double sum_squares<double>(ThreadPool&, const double*, int64_t);

}  // namespace cpu
}  // namespace tunesmith
