// Cross-entropy on logits rows with an ignore mask (target < 0), logsumexp with max subtraction
// and the exponent sum in double. float rows use the 8-wide exp (simd.h), one exp pass per row in
// backward (softmax = exp(x − max) / Σ).
#include <algorithm>
#include <cmath>

#include "cpu/ops.h"
#include "cpu/simd.h"

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

template <typename T>
void row_softmax_grad(T* drow, const T* row, int64_t vocab, double scale) {
  const double lse = row_logsumexp(row, vocab);
  for (int64_t j = 0; j < vocab; ++j) drow[j] = T(std::exp(double(row[j]) - lse) * scale);
}

#if defined(TUNESMITH_SIMD)
// float rows: 8-wide exp, partial sums of the exponentials in double (8 lanes).
__attribute__((always_inline)) inline float row_max_f32(const float* row, int64_t vocab) {
  int64_t j = 0;
  float m = row[0];
  if (vocab >= 8) {
    vec8 mv = vload(row);
    for (j = 8; j + 8 <= vocab; j += 8) mv = vmax(mv, vload(row + j));
    m = hmax(mv);
  }
  for (; j < vocab; ++j) m = std::max(m, row[j]);
  return m;
}

// Σ exp(row - max), optionally storing the exponentials to `out` (which may alias `row`).
__attribute__((always_inline)) inline double row_sumexp_f32(float* out, const float* row, int64_t vocab, float max) {
  typedef double dvec4 __attribute__((vector_size(32)));
  typedef float fvec4 __attribute__((vector_size(16)));
  dvec4 acc0 = {0, 0, 0, 0}, acc1 = {0, 0, 0, 0};
  const vec8 mv = vsplat(max);
  int64_t j = 0;
  for (; j + 8 <= vocab; j += 8) {
    const vec8 e = vexp(vload(row + j) - mv);
    if (out) vstore(out + j, e);
    const fvec4 lo = {e[0], e[1], e[2], e[3]}, hi = {e[4], e[5], e[6], e[7]};
    acc0 += __builtin_convertvector(lo, dvec4);
    acc1 += __builtin_convertvector(hi, dvec4);
  }
  double sum = ((acc0[0] + acc1[0]) + (acc0[1] + acc1[1])) + ((acc0[2] + acc1[2]) + (acc0[3] + acc1[3]));
  for (; j < vocab; ++j) {
    const float e = std::exp(row[j] - max);
    if (out) out[j] = e;
    sum += double(e);
  }
  return sum;
}

__attribute__((always_inline)) inline double lse_body(const float* row, int64_t vocab) {
  const float m = row_max_f32(row, vocab);
  return double(m) + std::log(row_sumexp_f32(nullptr, row, vocab, m));
}

__attribute__((always_inline)) inline void grad_body(float* drow, const float* row, int64_t vocab, double scale) {
  const float m = row_max_f32(row, vocab);
  const double sum = row_sumexp_f32(drow, row, vocab, m);
  const vec8 f = vsplat(float(scale / sum));
  int64_t j = 0;
  for (; j + 8 <= vocab; j += 8) vstore(drow + j, vload(drow + j) * f);
  for (; j < vocab; ++j) drow[j] *= f[0];
}

double lse_baseline(const float* row, int64_t vocab) { return lse_body(row, vocab); }
void grad_baseline(float* drow, const float* row, int64_t vocab, double scale) { grad_body(drow, row, vocab, scale); }
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) double lse_avx2(const float* row, int64_t vocab) { return lse_body(row, vocab); }
__attribute__((target("avx2,fma"))) void grad_avx2(float* drow, const float* row, int64_t vocab, double scale) {
  grad_body(drow, row, vocab, scale);
}
#endif

template <>
double row_logsumexp<float>(const float* row, int64_t vocab) {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx2_fma()) return lse_avx2(row, vocab);
#endif
  return lse_baseline(row, vocab);
}

template <>
void row_softmax_grad<float>(float* drow, const float* row, int64_t vocab, double scale) {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx2_fma()) return grad_avx2(drow, row, vocab, scale);
#endif
  grad_baseline(drow, row, vocab, scale);
}
#endif

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
      row_softmax_grad(drow, row, vocab, scale);
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
