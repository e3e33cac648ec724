// RMSNorm as Hugging Face LlamaRMSNorm computes it in fp32: x̂ = x · rsqrt(mean(x²) + eps),
// out = x̂ · w. Backward: with g = dout ⊙ w, dx = rstd · (g − x̂ · mean(g ⊙ x̂)), dw = Σ dout ⊙ x̂.
#include <cmath>

#include "cpu/ops.h"

namespace tunesmith {
namespace cpu {

template <typename T>
void rmsnorm_forward(ThreadPool& pool, T* out, T* rstd, const T* x, const T* w, int64_t n, int64_t dim, double eps) {
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const T* xr = x + t * dim;
      double sum_sq = 0.0;
      for (int64_t j = 0; j < dim; ++j) sum_sq += double(xr[j]) * double(xr[j]);
      const T r = T(1.0 / std::sqrt(sum_sq / double(dim) + eps));
      rstd[t] = r;
      T* o = out + t * dim;
      for (int64_t j = 0; j < dim; ++j) o[j] = (xr[j] * r) * w[j];
    }
  });
}

template <typename T>
void rmsnorm_backward(ThreadPool& pool, T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int64_t n,
                      int64_t dim) {
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const T* xr = x + t * dim;
      const T* g = dout + t * dim;
      const T r = rstd[t];
      double dot = 0.0;  // Σ (g ⊙ w) ⊙ x̂
      for (int64_t j = 0; j < dim; ++j) dot += double(g[j] * w[j]) * double(xr[j] * r);
      const T mean_dot = T(dot / double(dim));
      T* d = dx + t * dim;
      for (int64_t j = 0; j < dim; ++j) d[j] += r * (g[j] * w[j] - (xr[j] * r) * mean_dot);
    }
  });
  // dw: threads split the feature columns, each sums over all tokens in order (deterministic).
  if (!dw) return;  // frozen weight
  pool.parallel_for(dim, [&](int64_t begin, int64_t end) {
    for (int64_t t = 0; t < n; ++t) {
      const T* xr = x + t * dim;
      const T* g = dout + t * dim;
      const T r = rstd[t];
      for (int64_t j = begin; j < end; ++j) dw[j] += g[j] * (xr[j] * r);
    }
  });
}

template void rmsnorm_forward<float>(ThreadPool&, float*, float*, const float*, const float*, int64_t, int64_t, double);
template void rmsnorm_forward<double>(ThreadPool&, double*, double*, const double*, const double*, int64_t, int64_t,
                                      double);
template void rmsnorm_backward<float>(ThreadPool&, float*, float*, const float*, const float*, const float*,
                                      const float*, int64_t, int64_t);
template void rmsnorm_backward<double>(ThreadPool&, double*, double*, const double*, const double*, const double*,
                                       const double*, int64_t, int64_t);

}  // namespace cpu
}  // namespace tunesmith
