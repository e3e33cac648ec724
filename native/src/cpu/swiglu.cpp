// SwiGLU: h = silu(g) ⊙ u with silu(g) = g·σ(g).
// Backward: dg = dh · u · σ(g) · (1 + g·(1 − σ(g))),  du = dh · silu(g).
#include <cmath>

#include "cpu/ops.h"
#include "cpu/simd.h"

namespace tunesmith {
namespace cpu {
namespace {

template <typename T>
void swiglu_forward_scalar(T* h, const T* gate, const T* up, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    const T g = gate[i];
    const T sig = T(1) / (T(1) + std::exp(-g));
    h[i] = (g * sig) * up[i];
  }
}

template <typename T>
void swiglu_backward_scalar(T* dgate, T* dup, const T* dh, const T* gate, const T* up, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    const T g = gate[i];
    const T sig = T(1) / (T(1) + std::exp(-g));
    const T d = dh[i];
    dgate[i] = d * up[i] * sig * (T(1) + g * (T(1) - sig));
    dup[i] = d * (g * sig);
  }
}

template <typename T>
void swiglu_forward_range(T* h, const T* gate, const T* up, int64_t begin, int64_t end) {
  swiglu_forward_scalar(h, gate, up, begin, end);
}
template <typename T>
void swiglu_backward_range(T* dgate, T* dup, const T* dh, const T* gate, const T* up, int64_t begin, int64_t end) {
  swiglu_backward_scalar(dgate, dup, dh, gate, up, begin, end);
}

#if defined(TUNESMITH_SIMD)
// float: 8 at a time with the vector exp, the scalar formula for the tail.
__attribute__((always_inline)) inline void fwd_body(float* h, const float* gate, const float* up, int64_t begin,
                                                    int64_t end) {
  const vec8 one = vsplat(1.0f);
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const vec8 g = vload(gate + i);
    const vec8 sig = one / (one + vexp(-g));
    vstore(h + i, (g * sig) * vload(up + i));
  }
  swiglu_forward_scalar(h, gate, up, i, end);
}
__attribute__((always_inline)) inline void bwd_body(float* dgate, float* dup, const float* dh, const float* gate,
                                                    const float* up, int64_t begin, int64_t end) {
  const vec8 one = vsplat(1.0f);
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const vec8 g = vload(gate + i);
    const vec8 sig = one / (one + vexp(-g));
    const vec8 d = vload(dh + i);
    vstore(dgate + i, d * vload(up + i) * sig * (one + g * (one - sig)));
    vstore(dup + i, d * (g * sig));
  }
  swiglu_backward_scalar(dgate, dup, dh, gate, up, i, end);
}
void fwd_baseline(float* h, const float* gate, const float* up, int64_t begin, int64_t end) {
  fwd_body(h, gate, up, begin, end);
}
void bwd_baseline(float* dgate, float* dup, const float* dh, const float* gate, const float* up, int64_t begin,
                  int64_t end) {
  bwd_body(dgate, dup, dh, gate, up, begin, end);
}
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) void fwd_avx2(float* h, const float* gate, const float* up, int64_t begin,
                                                 int64_t end) {
  fwd_body(h, gate, up, begin, end);
}
__attribute__((target("avx2,fma"))) void bwd_avx2(float* dgate, float* dup, const float* dh, const float* gate,
                                                 const float* up, int64_t begin, int64_t end) {
  bwd_body(dgate, dup, dh, gate, up, begin, end);
}
#endif
template <>
void swiglu_forward_range<float>(float* h, const float* gate, const float* up, int64_t begin, int64_t end) {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx2_fma()) return fwd_avx2(h, gate, up, begin, end);
#endif
  fwd_baseline(h, gate, up, begin, end);
}
template <>
void swiglu_backward_range<float>(float* dgate, float* dup, const float* dh, const float* gate, const float* up,
                                  int64_t begin, int64_t end) {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx2_fma()) return bwd_avx2(dgate, dup, dh, gate, up, begin, end);
#endif
  bwd_baseline(dgate, dup, dh, gate, up, begin, end);
}
#endif

}  // namespace

template <typename T>
void swiglu_forward(ThreadPool& pool, T* h, const T* gate, const T* up, int64_t n) {
  pool.parallel_for(n, [&](int64_t begin, int64_t end) { swiglu_forward_range(h, gate, up, begin, end); });
}

template <typename T>
void swiglu_backward(ThreadPool& pool, T* dgate, T* dup, const T* dh, const T* gate, const T* up, int64_t n) {
  pool.parallel_for(n, [&](int64_t begin, int64_t end) { swiglu_backward_range(dgate, dup, dh, gate, up, begin, end); });
}

template void swiglu_forward<float>(ThreadPool&, float*, const float*, const float*, int64_t);
template void swiglu_forward<double>(ThreadPool&, double*, const double*, const double*, int64_t);
template void swiglu_backward<float>(ThreadPool&, float*, float*, const float*, const float*, const float*, int64_t);
template void swiglu_backward<double>(ThreadPool&, double*, double*, const double*, const double*, const double*,
                                      int64_t);

}  // namespace cpu
}  // namespace tunesmith
