// SwiGLU: h = silu(g) ⊙ u with silu(g) = g·σ(g).
// Backward: dg = dh · u · σ(g) · (1 + g·(1 − σ(g))),  du = dh · silu(g).
#include <cmath>

#include "cpu/ops.h"

namespace tunesmith {
namespace cpu {

template <typename T>
void swiglu_forward(ThreadPool& pool, T* h, const T* gate, const T* up, int64_t n) {
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T g = gate[i];
      const T sig = T(1) / (T(1) + std::exp(-g));
      h[i] = (g * sig) * up[i];
    }
  });
}

template <typename T>
void swiglu_backward(ThreadPool& pool, T* dgate, T* dup, const T* dh, const T* gate, const T* up, int64_t n) {
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T g = gate[i];
      const T sig = T(1) / (T(1) + std::exp(-g));
      const T d = dh[i];
      dgate[i] = d * up[i] * sig * (T(1) + g * (T(1) - sig));
      dup[i] = d * (g * sig);
    }
  });
}

template void swiglu_forward<float>(ThreadPool&, float*, const float*, const float*, int64_t);
template void swiglu_forward<double>(ThreadPool&, double*, const double*, const double*, int64_t);
template void swiglu_backward<float>(ThreadPool&, float*, float*, const float*, const float*, const float*, int64_t);
template void swiglu_backward<double>(ThreadPool&, double*, double*, const double*, const double*, const double*,
                                      int64_t);

}  // namespace cpu
}  // namespace tunesmith
