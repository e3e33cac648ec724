// Causal self-attention with grouped-query heads, the plain (non-flash) way: per query row,
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

namespace tunesmith {
namespace cpu {
namespace {

// First key visible from query i (causal, optional sliding window as in HF Mistral/Qwen2).
inline int64_t first_visible_key(int64_t i, int64_t window) { return window > 0 ? std::max<int64_t>(0, i - window + 1) : 0; }

}  // namespace

template <typename T>
void attention_forward(ThreadPool& pool, T* out, T* probs, const T* q, const T* k, const T* v,
                       const AttentionShape& s) {
  const int64_t hd = s.head_dim, group = s.heads / s.kv_heads;
  const int64_t q_stride = s.heads * hd, kv_stride = s.kv_heads * hd;
  const T scale = T(1.0 / std::sqrt(double(hd)));
  pool.parallel_for(s.batch * s.kv_heads, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / s.kv_heads, kvh = task % s.kv_heads;
      const T* kb = k + b * s.seq * kv_stride + kvh * hd;
      const T* vb = v + b * s.seq * kv_stride + kvh * hd;
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        for (int64_t i = 0; i < s.seq; ++i) {
          const T* qi = q + (b * s.seq + i) * q_stride + h * hd;
          T* p = probs + ((b * s.heads + h) * s.seq + i) * s.seq;
          const int64_t j0 = first_visible_key(i, s.sliding_window);
          T max_score = -INFINITY;
          for (int64_t j = 0; j < s.seq; ++j) {
            if (j < j0 || j > i) {
              p[j] = T(0);
              continue;
            }
            const T* kj = kb + j * kv_stride;
            T dot = T(0);
            for (int64_t d = 0; d < hd; ++d) dot += qi[d] * kj[d];
            p[j] = dot * scale;
            max_score = std::max(max_score, p[j]);
          }
          T sum = T(0);
          for (int64_t j = j0; j <= i; ++j) {
            p[j] = std::exp(p[j] - max_score);
            sum += p[j];
          }
          const T inv_sum = T(1) / sum;
          T* o = out + (b * s.seq + i) * q_stride + h * hd;
          for (int64_t d = 0; d < hd; ++d) o[d] = T(0);
          for (int64_t j = j0; j <= i; ++j) {
            p[j] *= inv_sum;
            const T* vj = vb + j * kv_stride;
            for (int64_t d = 0; d < hd; ++d) o[d] += p[j] * vj[d];
          }
        }
      }
    }
  });
}

template <typename T>
void attention_backward(ThreadPool& pool, T* dq, T* dk, T* dv, const T* dout, const T* probs, const T* q, const T* k,
                        const T* v, const AttentionShape& s) {
  const int64_t hd = s.head_dim, group = s.heads / s.kv_heads;
  const int64_t q_stride = s.heads * hd, kv_stride = s.kv_heads * hd;
  const T scale = T(1.0 / std::sqrt(double(hd)));
  pool.parallel_for(s.batch * s.kv_heads, [&](int64_t begin, int64_t end) {
    std::vector<T> dp(s.seq);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / s.kv_heads, kvh = task % s.kv_heads;
      const T* kb = k + b * s.seq * kv_stride + kvh * hd;
      const T* vb = v + b * s.seq * kv_stride + kvh * hd;
      T* dkb = dk + b * s.seq * kv_stride + kvh * hd;
      T* dvb = dv + b * s.seq * kv_stride + kvh * hd;
      for (int64_t j = 0; j < s.seq; ++j)
        for (int64_t d = 0; d < hd; ++d) dkb[j * kv_stride + d] = dvb[j * kv_stride + d] = T(0);
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        for (int64_t i = 0; i < s.seq; ++i) {
          const T* qi = q + (b * s.seq + i) * q_stride + h * hd;
          const T* doi = dout + (b * s.seq + i) * q_stride + h * hd;
          const T* p = probs + ((b * s.heads + h) * s.seq + i) * s.seq;
          T* dqi = dq + (b * s.seq + i) * q_stride + h * hd;
          const int64_t j0 = first_visible_key(i, s.sliding_window);
          T p_dot_dp = T(0);
          for (int64_t j = j0; j <= i; ++j) {
            const T* vj = vb + j * kv_stride;
            T* dvj = dvb + j * kv_stride;
            T dot = T(0);
            for (int64_t d = 0; d < hd; ++d) {
              dot += doi[d] * vj[d];
              dvj[d] += p[j] * doi[d];
            }
            dp[j] = dot;
            p_dot_dp += p[j] * dot;
          }
          for (int64_t d = 0; d < hd; ++d) dqi[d] = T(0);
          for (int64_t j = j0; j <= i; ++j) {
            const T ds = p[j] * (dp[j] - p_dot_dp) * scale;
            const T* kj = kb + j * kv_stride;
            T* dkj = dkb + j * kv_stride;
            for (int64_t d = 0; d < hd; ++d) {
              dqi[d] += ds * kj[d];
              dkj[d] += ds * qi[d];
            }
          }
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
