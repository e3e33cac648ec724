// Causal self-attention with grouped-query heads, the plain (non-flash) way, on the gemm kernel:
// scores = q·kᵀ/√d over the visible keys, softmax with max subtraction, out = Σ p·v. The
// probabilities are kept for the backward pass:
//   dv_j += p_j · dout,  dp_j = dout·v_j,  ds_j = p_j (dp_j − Σ_l p_l dp_l),
//   dq = Σ_j ds_j k_j / √d,  dk_j += ds_j q / √d.
// Work is split over (batch, kv head): the query heads that share a kv head run in one task, so
// their dk/dv contributions are summed in a fixed order without locks.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/ops.h"
#include "cpu/simd.h"

namespace tunesmith {
namespace cpu {
namespace {

// First key visible from query i (causal, optional sliding window as in HF Mistral/Qwen2).
inline int64_t first_visible_key(int64_t i, int64_t window) { return window > 0 ? std::max<int64_t>(0, i - window + 1) : 0; }

// p[0, len) ← softmax(p · scale), with max subtraction.
template <typename T>
void softmax_row(T* p, int64_t len, T scale) {
  T max_score = -INFINITY;
  for (int64_t j = 0; j < len; ++j) {
    p[j] *= scale;
    max_score = std::max(max_score, p[j]);
  }
  T sum = T(0);
  for (int64_t j = 0; j < len; ++j) {
    p[j] = std::exp(p[j] - max_score);
    sum += p[j];
  }
  const T inv_sum = T(1) / sum;
  for (int64_t j = 0; j < len; ++j) p[j] *= inv_sum;
}

#if defined(TUNESMITH_SIMD)
// float: 8-wide, with 8 partial sums.
__attribute__((always_inline)) inline void softmax_row_body(float* p, int64_t len, float scale) {
  const int64_t vec_end = len / 8 * 8;
  const vec8 sv = vsplat(scale);
  float max_score = -INFINITY;
  if (vec_end) {
    vec8 mv = vsplat(-INFINITY);
    for (int64_t j = 0; j < vec_end; j += 8) {
      const vec8 x = vload(p + j) * sv;
      vstore(p + j, x);
      mv = vmax(mv, x);
    }
    max_score = hmax(mv);
  }
  for (int64_t j = vec_end; j < len; ++j) {
    p[j] *= scale;
    max_score = std::max(max_score, p[j]);
  }
  const vec8 m = vsplat(max_score);
  vec8 acc = vsplat(0.0f);
  for (int64_t j = 0; j < vec_end; j += 8) {
    const vec8 e = vexp(vload(p + j) - m);
    vstore(p + j, e);
    acc += e;
  }
  float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (int64_t j = vec_end; j < len; ++j) {
    p[j] = std::exp(p[j] - max_score);
    sum += p[j];
  }
  const vec8 inv = vsplat(1.0f / sum);
  for (int64_t j = 0; j < vec_end; j += 8) vstore(p + j, vload(p + j) * inv);
  for (int64_t j = vec_end; j < len; ++j) p[j] *= inv[0];
}
void softmax_row_baseline(float* p, int64_t len, float scale) { softmax_row_body(p, len, scale); }
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) void softmax_row_avx2(float* p, int64_t len, float scale) {
  softmax_row_body(p, len, scale);
}
#endif
template <>
void softmax_row<float>(float* p, int64_t len, float scale) {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx2_fma()) return softmax_row_avx2(p, len, scale);
#endif
  softmax_row_baseline(p, len, scale);
}
#endif

// d[0, len) ← p ⊙ (d − Σ p ⊙ d) · scale (softmax backward of one row, in place).
template <typename T>
void softmax_grad_row(T* d, const T* p, int64_t len, T scale) {
  T p_dot_dp = T(0);
  for (int64_t j = 0; j < len; ++j) p_dot_dp += p[j] * d[j];
  for (int64_t j = 0; j < len; ++j) d[j] = p[j] * (d[j] - p_dot_dp) * scale;
}

#if defined(TUNESMITH_SIMD)
__attribute__((always_inline)) inline void softmax_grad_row_body(float* d, const float* p, int64_t len, float scale) {
  const int64_t vec_end = len / 8 * 8;
  vec8 acc = vsplat(0.0f);
  for (int64_t j = 0; j < vec_end; j += 8) acc += vload(p + j) * vload(d + j);
  float p_dot_dp = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (int64_t j = vec_end; j < len; ++j) p_dot_dp += p[j] * d[j];
  const vec8 m = vsplat(p_dot_dp), sv = vsplat(scale);
  for (int64_t j = 0; j < vec_end; j += 8) vstore(d + j, vload(p + j) * (vload(d + j) - m) * sv);
  for (int64_t j = vec_end; j < len; ++j) d[j] = p[j] * (d[j] - p_dot_dp) * scale;
}
void softmax_grad_row_baseline(float* d, const float* p, int64_t len, float scale) {
  softmax_grad_row_body(d, p, len, scale);
}
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) void softmax_grad_row_avx2(float* d, const float* p, int64_t len, float scale) {
  softmax_grad_row_body(d, p, len, scale);
}
#endif
template <>
void softmax_grad_row<float>(float* d, const float* p, int64_t len, float scale) {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx2_fma()) return softmax_grad_row_avx2(d, p, len, scale);
#endif
  softmax_grad_row_baseline(d, p, len, scale);
}
#endif

// Rows of queries per block: the causal mask means block [r0, r1) only needs keys [0, r1).
constexpr int64_t kRowBlock = 64;

template <typename T>
T* scratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

// Per (batch, query head), in row blocks: S = Q·Kᵀ (gemm), then a masked softmax per row in place
// in `probs` (zeros outside the visible keys), then O = P·V (gemm over the keys the block sees).
template <typename T>
void attention_forward(ThreadPool& pool, T* out, T* probs, const T* q, const T* k, const T* v,
                       const AttentionShape& s) {
  const int64_t hd = s.head_dim, group = s.heads / s.kv_heads, seq = s.seq;
  const int64_t q_stride = s.heads * hd, kv_stride = s.kv_heads * hd;
  const T scale = T(1.0 / std::sqrt(double(hd)));
  pool.parallel_for(s.batch * s.kv_heads, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / s.kv_heads, kvh = task % s.kv_heads;
      const T* kb = k + b * seq * kv_stride + kvh * hd;
      const T* vb = v + b * seq * kv_stride + kvh * hd;
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        const T* qh = q + b * seq * q_stride + h * hd;
        T* oh = out + b * seq * q_stride + h * hd;
        T* ph = probs + (b * s.heads + h) * seq * seq;
        for (int64_t r0 = 0; r0 < seq; r0 += kRowBlock) {
          const int64_t r1 = std::min(seq, r0 + kRowBlock);
          gemm_ex<T>(nullptr, qh + r0 * q_stride, q_stride, false, kb, kv_stride, true, ph + r0 * seq, seq, r1 - r0, r1, hd,
                     false);
          for (int64_t i = r0; i < r1; ++i) {
            T* p = ph + i * seq;
            const int64_t j0 = first_visible_key(i, s.sliding_window);
            softmax_row(p + j0, i - j0 + 1, scale);
            for (int64_t j = 0; j < j0; ++j) p[j] = T(0);
            for (int64_t j = i + 1; j < seq; ++j) p[j] = T(0);
          }
          gemm_ex<T>(nullptr, ph + r0 * seq, seq, false, vb, kv_stride, false, oh + r0 * q_stride, q_stride, r1 - r0, hd, r1,
                     false);
        }
      }
    }
  });
}

// Per (batch, kv head), the query heads of the group in order, each in row blocks:
//   dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)) / √d   (in place, zeros outside the visible keys)
//   dQ = dS·K,  dK += dSᵀ·Q,  dV += Pᵀ·dO
// the last two per key block [c0, c1) over the queries that see it (i ≥ c0), the gemm reading
// dSᵀ and Pᵀ in place as transposed A operands.
template <typename T>
void attention_backward(ThreadPool& pool, T* dq, T* dk, T* dv, const T* dout, const T* probs, const T* q, const T* k,
                        const T* v, const AttentionShape& s) {
  const int64_t hd = s.head_dim, group = s.heads / s.kv_heads, seq = s.seq;
  const int64_t q_stride = s.heads * hd, kv_stride = s.kv_heads * hd;
  const T scale = T(1.0 / std::sqrt(double(hd)));
  pool.parallel_for(s.batch * s.kv_heads, [&](int64_t begin, int64_t end) {
    thread_local std::vector<T> ds_buf;
    T* ds = scratch(ds_buf, size_t(seq * seq));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / s.kv_heads, kvh = task % s.kv_heads;
      const T* kb = k + b * seq * kv_stride + kvh * hd;
      const T* vb = v + b * seq * kv_stride + kvh * hd;
      T* dkb = dk + b * seq * kv_stride + kvh * hd;
      T* dvb = dv + b * seq * kv_stride + kvh * hd;
      for (int64_t j = 0; j < seq; ++j) {
        std::fill(dkb + j * kv_stride, dkb + j * kv_stride + hd, T(0));
        std::fill(dvb + j * kv_stride, dvb + j * kv_stride + hd, T(0));
      }
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        const T* qh = q + b * seq * q_stride + h * hd;
        const T* doh = dout + b * seq * q_stride + h * hd;
        const T* ph = probs + (b * s.heads + h) * seq * seq;
        T* dqh = dq + b * seq * q_stride + h * hd;
        for (int64_t r0 = 0; r0 < seq; r0 += kRowBlock) {
          const int64_t r1 = std::min(seq, r0 + kRowBlock);
          gemm_ex<T>(nullptr, doh + r0 * q_stride, q_stride, false, vb, kv_stride, true, ds + r0 * seq, seq, r1 - r0, r1, hd,
                     false);
          for (int64_t i = r0; i < r1; ++i) {
            const T* p = ph + i * seq;
            T* d = ds + i * seq;
            const int64_t j0 = first_visible_key(i, s.sliding_window);
            softmax_grad_row(d + j0, p + j0, i - j0 + 1, scale);
            for (int64_t j = 0; j < j0; ++j) d[j] = T(0);
            for (int64_t j = i + 1; j < r1; ++j) d[j] = T(0);
          }
          gemm_ex<T>(nullptr, ds + r0 * seq, seq, false, kb, kv_stride, false, dqh + r0 * q_stride, q_stride, r1 - r0, hd, r1,
                     false);
        }
        // dK[j] += Σ_{i ≥ j} dS[i, j] Q[i],  dV[j] += Σ_{i ≥ j} P[i, j] dO[i]: per key block, A = dSᵀ / Pᵀ
        // read transposed straight from the [seq, seq] buffers.
        for (int64_t c0 = 0; c0 < seq; c0 += kRowBlock) {
          const int64_t c1 = std::min(seq, c0 + kRowBlock);
          gemm_ex<T>(nullptr, ds + c0 * seq + c0, seq, true, qh + c0 * q_stride, q_stride, false, dkb + c0 * kv_stride,
                     kv_stride, c1 - c0, hd, seq - c0, true);
          gemm_ex<T>(nullptr, ph + c0 * seq + c0, seq, true, doh + c0 * q_stride, q_stride, false, dvb + c0 * kv_stride,
                     kv_stride, c1 - c0, hd, seq - c0, true);
        }
      }
    }
  });
}

template <typename T>
void attention_decode(ThreadPool& pool, T* out, const T* q, const T* k_cache, const T* v_cache, int64_t length,
                      int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t sliding_window) {
  const int64_t group = heads / kv_heads, kv_stride = kv_heads * head_dim;
  const T scale = T(1.0 / std::sqrt(double(head_dim)));
  const int64_t i = length - 1;
  const int64_t j0 = first_visible_key(i, sliding_window);
  pool.parallel_for(heads, [&](int64_t begin, int64_t end) {
    std::vector<T> p(length);
    for (int64_t h = begin; h < end; ++h) {
      const int64_t kvh = h / group;
      const T* qh = q + h * head_dim;
      T max_score = -INFINITY;
      for (int64_t j = j0; j <= i; ++j) {
        const T* kj = k_cache + j * kv_stride + kvh * head_dim;
        T dot = T(0);
        for (int64_t d = 0; d < head_dim; ++d) dot += qh[d] * kj[d];
        p[j] = dot * scale;
        max_score = std::max(max_score, p[j]);
      }
      T sum = T(0);
      for (int64_t j = j0; j <= i; ++j) {
        p[j] = std::exp(p[j] - max_score);
        sum += p[j];
      }
      const T inv_sum = T(1) / sum;
      T* o = out + h * head_dim;
      for (int64_t d = 0; d < head_dim; ++d) o[d] = T(0);
      for (int64_t j = j0; j <= i; ++j) {
        const T* vj = v_cache + j * kv_stride + kvh * head_dim;
        const T w = p[j] * inv_sum;
        for (int64_t d = 0; d < head_dim; ++d) o[d] += w * vj[d];
      }
    }
  });
}

#define TUNESMITH_INSTANTIATE_ATTENTION(T)                                                                        \
  template void attention_forward<T>(ThreadPool&, T*, T*, const T*, const T*, const T*, const AttentionShape&);  \
  template void attention_backward<T>(ThreadPool&, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, \
                                      const AttentionShape&);                                                    \
  template void attention_decode<T>(ThreadPool&, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t,    \
                                    int64_t, int64_t);
TUNESMITH_INSTANTIATE_ATTENTION(float)
TUNESMITH_INSTANTIATE_ATTENTION(double)

}  // namespace cpu
}  // namespace tunesmith
