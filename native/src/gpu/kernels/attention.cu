// Flash-style causal attention with GQA and an optional sliding window (gpu/ops.h):
//
//   forward   one block per (32-query tile, head, batch): online softmax over the visible key tiles
//             (running max, running sum, fp32 output accumulators in registers); writes out (bf16)
//             and lse = max + log(sum) (fp32). No [seq, seq] matrix exists anywhere.
//   backward  one kernel per 32-KEY tile and kv head that recomputes P = exp(S·scale − lse) and
//             dS = P ⊙ (dO·Vᵀ − D), D = Σ_d dO·O, for every query tile (and every query head of the
//             GQA group) that sees its keys, and sums dK, dV in registers; and one kernel per
//             32-QUERY tile and head that recomputes dS and sums dQ. D is recomputed per row where
//             it is needed (an hd-long dot product, ~1/64 of the score work), so the backward needs
//             no scratch buffer. Every output element is owned by exactly one thread:
//             deterministic, no atomics.
//   decode    one block per query head, four warps each walking a quarter of the cache with an
//             online softmax, merged in a fixed order.
//
// Layout in every tiled kernel: 4 warps × 8 rows = 32 rows of the block's own tile (queries in
// forward and dQ, keys in dK/dV); lane = the streamed row (key or query) in the score phase, and
// lane = a bf16 pair of the head dimension in the accumulation phase. Shared memory holds bf16
// pairs packed in 32-bit words (dims 2c, 2c+1; a dim past head_dim is stored as 0), rows read by
// lane index are padded to an odd word stride (conflict-free). All math is fp32.
//
// Shared memory stays under 48 KB for head_dim ≤ 256: the forward keeps the whole head dim
// (K and V share one buffer), the backward walks the head dim in chunks of 128 when it is above 128.
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "gpu/launch.h"
#include "gpu/ops.h"

namespace tunesmith::gpu {
namespace {

#if defined(TUNESMITH_GPU_CUDA)
#define TS_ATTN_UNROLL _Pragma("unroll")
#else
#define TS_ATTN_UNROLL
#endif

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * kWarpSize;  // 128
constexpr int kRowsPerWarp = 8;
constexpr int kTile = kWarps * kRowsPerWarp;  // 32 rows of the block's own tile
static_assert(kTile == kWarpSize, "the streamed tile is indexed by lane");
constexpr int kMaxHeadDim = 256;

TS_DEVICE float lo_half(unsigned w) { return bits_float(w << 16); }
TS_DEVICE float hi_half(unsigned w) { return bits_float(w & 0xffff0000u); }

TS_DEVICE float warp_max(float x) {
  for (int o = kWarpSize / 2; o > 0; o /= 2) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
// Butterfly sum: every lane ends with the same bits (each step adds the same two values).
TS_DEVICE float warp_sum(float x) {
  for (int o = kWarpSize / 2; o > 0; o /= 2) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// Key j visible from query i: causal, inside the sliding window, both inside the sequence.
TS_DEVICE bool key_visible(int64_t i, int64_t j, int64_t seq, int64_t window) {
  return i < seq && j <= i && (window <= 0 || i - j < window);
}

// dst[r * stride + w] = the bf16 pair (d0 + 2w, d0 + 2w + 1) of row `row0 + r` of `src` (rows
// `row_stride` elements apart), for r < kTile and w < words; 0 for rows ≥ rows and dims ≥ hd. All
// threads of the block take part; the caller synchronizes.
TS_DEVICE void load_pairs(unsigned* dst, int stride, const bf16* src, int64_t row_stride, int64_t row0, int64_t rows,
                          int d0, int words, int hd) {
  const int total = kTile * words;
  for (int e = int(threadIdx.x); e < total; e += int(blockDim.x)) {
    const int r = e / words, w = e - r * words;
    const int64_t row = row0 + r;
    const int d = d0 + 2 * w;
    unsigned lo = 0, hi = 0;
    if (row < rows) {
      const bf16* p = src + row * row_stride + d;
      if (d < hd) lo = p[0].bits;
      if (d + 1 < hd) hi = p[1].bits;
    }
    dst[r * stride + w] = lo | (hi << 16);
  }
}

// Writes a row held as fp32 pairs (dims 2c, 2c+1 for pair c = lane + 32·kk) times `factor` as bf16.
template <int N>
TS_DEVICE void store_row(bf16* dst, const float (&acc)[N][2], int lane, int hd, float factor) {
  TS_ATTN_UNROLL
  for (int kk = 0; kk < N; ++kk) {
    const int d = 2 * (kk * kWarpSize + lane);
    if (d < hd) dst[d] = float_to_bf16(acc[kk][0] * factor);
    if (d + 1 < hd) dst[d + 1] = float_to_bf16(acc[kk][1] * factor);
  }
}

// --- forward ----------------------------------------------------------------------------------
template <int HD_MAX>
__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, int64_t seq,
                             int64_t heads, int64_t kv_heads, int hd, int64_t window, float scale) {
  constexpr int HW = HD_MAX / 2;            // words (bf16 pairs) in a row
  constexpr int KV_STRIDE = HW + 1;         // K/V rows are read by lane: odd stride
  constexpr int PAIRS = HW / kWarpSize;     // output pairs per lane
  __shared__ unsigned q_s[kTile * HW];      // the block's queries (broadcast reads)
  __shared__ unsigned kv_s[kTile * KV_STRIDE];  // K of the current key tile, then its V
  __shared__ float p_s[kTile * kTile];      // [query row][key] probabilities (unnormalised)

  const int tid = int(threadIdx.x), warp = tid / kWarpSize, lane = tid % kWarpSize;
  const int64_t q0 = int64_t(blockIdx.x) * kTile;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int64_t g = h / (heads / kv_heads);
  const int64_t q_row = heads * hd, kv_row = kv_heads * hd;
  const bf16* qb = q + b * seq * q_row + h * hd;
  const bf16* kb = k + b * seq * kv_row + g * hd;
  const bf16* vb = v + b * seq * kv_row + g * hd;
  const int words = (hd + 1) / 2;
  const int row0 = warp * kRowsPerWarp;  // this warp's rows in the tile

  load_pairs(q_s, HW, qb, q_row, q0, seq, 0, words, hd);  // synchronized by the loop's first barrier

  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][PAIRS][2];
  TS_ATTN_UNROLL
  for (int r = 0; r < kRowsPerWarp; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
    TS_ATTN_UNROLL
    for (int kk = 0; kk < PAIRS; ++kk) acc[r][kk][0] = acc[r][kk][1] = 0.0f;
  }

  const int64_t q_last = (q0 + kTile < seq ? q0 + kTile : seq) - 1;
  const int64_t k_first = window > 0 && q0 - window + 1 > 0 ? q0 - window + 1 : 0;
  for (int64_t k0 = k_first / kTile * kTile; k0 <= q_last; k0 += kTile) {
    load_pairs(kv_s, KV_STRIDE, kb, kv_row, k0, seq, 0, words, hd);
    __syncthreads();  // Q (first tile) and K are in shared memory

    // S = Q·Kᵀ for this warp's 8 queries × key `lane`.
    float s[kRowsPerWarp];
    TS_ATTN_UNROLL
    for (int r = 0; r < kRowsPerWarp; ++r) s[r] = 0.0f;
    for (int c = 0; c < words; ++c) {
      const unsigned kw = kv_s[lane * KV_STRIDE + c];
      const float k_lo = lo_half(kw), k_hi = hi_half(kw);
      TS_ATTN_UNROLL
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const unsigned qw = q_s[(row0 + r) * HW + c];
        s[r] += lo_half(qw) * k_lo + hi_half(qw) * k_hi;
      }
    }

    // Online softmax per row (the whole warp holds one row of 32 scores).
    const int64_t j = k0 + lane;
    TS_ATTN_UNROLL
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int64_t i = q0 + row0 + r;
      const float x = key_visible(i, j, seq, window) ? s[r] * scale : -INFINITY;
      const float m_new = fmaxf(m[r], warp_max(x));
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // no visible key yet: keep zeros, no NaN
      const float p = expf(x - m_use);
      const float alpha = expf(m[r] - m_use);
      l[r] = l[r] * alpha + warp_sum(p);
      m[r] = m_new;
      p_s[(row0 + r) * kTile + lane] = p;
      TS_ATTN_UNROLL
      for (int kk = 0; kk < PAIRS; ++kk) {
        acc[r][kk][0] *= alpha;
        acc[r][kk][1] *= alpha;
      }
    }
    __syncthreads();  // every warp is done with K
    load_pairs(kv_s, KV_STRIDE, vb, kv_row, k0, seq, 0, words, hd);
    __syncthreads();  // V and P are in shared memory

    // O += P·V: lane owns pairs c = lane + 32·kk.
    const int jn = seq - k0 < kTile ? int(seq - k0) : kTile;
    for (int jj = 0; jj < jn; ++jj) {
      float p[kRowsPerWarp];
      TS_ATTN_UNROLL
      for (int r = 0; r < kRowsPerWarp; ++r) p[r] = p_s[(row0 + r) * kTile + jj];
      TS_ATTN_UNROLL
      for (int kk = 0; kk < PAIRS; ++kk) {
        const int c = lane + kk * kWarpSize;
        if (c < words) {
          const unsigned vw = kv_s[jj * KV_STRIDE + c];
          const float v_lo = lo_half(vw), v_hi = hi_half(vw);
          TS_ATTN_UNROLL
          for (int r = 0; r < kRowsPerWarp; ++r) {
            acc[r][kk][0] += p[r] * v_lo;
            acc[r][kk][1] += p[r] * v_hi;
          }
        }
      }
    }
    __syncthreads();  // before the next tile overwrites kv_s and p_s
  }

  TS_ATTN_UNROLL
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t i = q0 + row0 + r;
    if (i < seq) {  // warp-uniform; every valid row sees at least its own key, so l > 0
      store_row(out + (b * seq + i) * q_row + h * hd, acc[r], lane, hd, 1.0f / l[r]);
      if (lane == 0) lse[(b * heads + h) * seq + i] = m[r] + logf(l[r]);
    }
  }
}

// --- backward ---------------------------------------------------------------------------------
// D = Σ_d dO·O of row i of one head (dob/ob point at the head's first row): one warp, lanes over
// the dims, butterfly sum, so every lane gets the same bits and both backward kernels compute the
// same D. 0 for rows past the sequence. Call with the whole warp (i warp-uniform).
TS_DEVICE float row_delta(const bf16* dob, const bf16* ob, int64_t row_stride, int64_t i, int64_t seq, int hd,
                          int lane) {
  float s = 0.0f;
  if (i < seq)
    for (int d = lane; d < hd; d += kWarpSize)
      s += bf16_to_float(dob[i * row_stride + d]) * bf16_to_float(ob[i * row_stride + d]);
  return warp_sum(s);
}

// Head-dim chunking of the backward kernels: chunks of DC dims (CW pairs), LW pairs per lane per chunk.
template <int HD_MAX>
struct Chunks {
  static constexpr int DC = HD_MAX < 128 ? HD_MAX : 128;
  static constexpr int CW = DC / 2;
  static constexpr int NCH = HD_MAX / DC;
  static constexpr int LW = CW / kWarpSize;
  static constexpr int STRIDE = CW + 1;  // rows read by lane index
};

// One head-dim chunk of the backward's two score products, for this warp's kRowsPerWarp rows
// against the lane's column: s[r] += a_rows[row0 + r]·a_lane and dp[r] += b_rows[row0 + r]·b_lane
// over cw bf16 pairs. Row operands are staged with stride C::CW, lane operands with the odd stride
// C::STRIDE (read by lane: no bank conflicts). The dK/dV kernel passes keys/values as rows and
// queries/dO as lanes, the dQ kernel the other way round.
template <typename C>
TS_DEVICE void accumulate_score_pairs(float (&s)[kRowsPerWarp], float (&dp)[kRowsPerWarp], const unsigned* a_rows,
                                      const unsigned* b_rows, const unsigned* a_lane, const unsigned* b_lane, int row0,
                                      int lane, int cw) {
  for (int c = 0; c < cw; ++c) {
    const unsigned aw = a_lane[lane * C::STRIDE + c], bw = b_lane[lane * C::STRIDE + c];
    const float a_lo = lo_half(aw), a_hi = hi_half(aw), b_lo = lo_half(bw), b_hi = hi_half(bw);
    TS_ATTN_UNROLL
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const unsigned ar = a_rows[(row0 + r) * C::CW + c], br = b_rows[(row0 + r) * C::CW + c];
      s[r] += lo_half(ar) * a_lo + hi_half(ar) * a_hi;
      dp[r] += lo_half(br) * b_lo + hi_half(br) * b_hi;
    }
  }
}

// dK, dV for 32 keys of kv head g: loops over the query heads of the group and the query tiles that
// can see the keys. Lane = query in the score phase; lane = pair of the head dim when accumulating.
template <int HD_MAX>
__global__ void __launch_bounds__(kThreads)
    attention_backward_dkv_kernel(bf16* dk, bf16* dv, const bf16* dout, const bf16* out, const float* lse,
                                  const bf16* q, const bf16* k, const bf16* v, int64_t seq, int64_t heads,
                                  int64_t kv_heads, int hd, int64_t window, float scale) {
  using C = Chunks<HD_MAX>;
  __shared__ unsigned k_s[kTile * C::CW], v_s[kTile * C::CW];             // the block's keys
  __shared__ unsigned q_s[kTile * C::STRIDE], do_s[kTile * C::STRIDE];    // the streamed queries
  __shared__ float p_s[kTile * kTile], ds_s[kTile * kTile];               // [key row][query]
  __shared__ float lse_s[kTile], delta_s[kTile];

  const int tid = int(threadIdx.x), warp = tid / kWarpSize, lane = tid % kWarpSize;
  const int64_t k0 = int64_t(blockIdx.x) * kTile;
  const int64_t g = blockIdx.y, b = blockIdx.z;
  const int64_t group = heads / kv_heads;
  const int64_t q_row = heads * hd, kv_row = kv_heads * hd;
  const bf16* kb = k + b * seq * kv_row + g * hd;
  const bf16* vb = v + b * seq * kv_row + g * hd;
  const int row0 = warp * kRowsPerWarp;
  const bool single = hd <= C::DC;  // one chunk: K/V and Q/dO stay in shared memory between phases

  float dk_acc[kRowsPerWarp][C::NCH * C::LW][2], dv_acc[kRowsPerWarp][C::NCH * C::LW][2];
  TS_ATTN_UNROLL
  for (int r = 0; r < kRowsPerWarp; ++r) {
    TS_ATTN_UNROLL
    for (int kk = 0; kk < C::NCH * C::LW; ++kk) dk_acc[r][kk][0] = dk_acc[r][kk][1] = dv_acc[r][kk][0] = dv_acc[r][kk][1] = 0.0f;
  }

  // Queries that see any of keys [k0, k_last]: i ≥ k0 and i < j + window.
  const int64_t k_last = (k0 + kTile < seq ? k0 + kTile : seq) - 1;
  const int64_t i_end = window > 0 && k_last + window < seq ? k_last + window : seq;
  if (single) {
    const int words = (hd + 1) / 2;
    load_pairs(k_s, C::CW, kb, kv_row, k0, seq, 0, words, hd);
    load_pairs(v_s, C::CW, vb, kv_row, k0, seq, 0, words, hd);
  }

  for (int64_t h = g * group; h < (g + 1) * group; ++h) {
    const bf16* qb = q + b * seq * q_row + h * hd;
    const bf16* dob = dout + b * seq * q_row + h * hd;
    const float* lse_h = lse + (b * heads + h) * seq;
    const bf16* ob = out + b * seq * q_row + h * hd;
    for (int64_t i0 = k0; i0 < i_end; i0 += kTile) {
      __syncthreads();  // the previous tile's readers are done with every buffer
      TS_ATTN_UNROLL
      for (int r = 0; r < kRowsPerWarp; ++r) {  // lse and D of the tile's queries, 8 rows per warp
        const int64_t i = i0 + row0 + r;
        const float dlt = row_delta(dob, ob, q_row, i, seq, hd, lane);
        if (lane == 0) {
          lse_s[row0 + r] = i < seq ? lse_h[i] : 0.0f;
          delta_s[row0 + r] = dlt;
        }
      }
      // S = K·Qᵀ and dP = V·dOᵀ for this warp's 8 keys × query `lane`, chunk by chunk.
      float s[kRowsPerWarp], dp[kRowsPerWarp];
      TS_ATTN_UNROLL
      for (int r = 0; r < kRowsPerWarp; ++r) s[r] = dp[r] = 0.0f;
      TS_ATTN_UNROLL
      for (int ch = 0; ch < C::NCH; ++ch) {
        const int d0 = ch * C::DC;
        if (d0 < hd) {  // block-uniform
          const int cw = (hd - d0 + 1) / 2 < C::CW ? (hd - d0 + 1) / 2 : C::CW;
          if (ch > 0) __syncthreads();  // readers of the previous chunk are done
          if (!single) {
            load_pairs(k_s, C::CW, kb, kv_row, k0, seq, d0, cw, hd);
            load_pairs(v_s, C::CW, vb, kv_row, k0, seq, d0, cw, hd);
          }
          load_pairs(q_s, C::STRIDE, qb, q_row, i0, seq, d0, cw, hd);
          load_pairs(do_s, C::STRIDE, dob, q_row, i0, seq, d0, cw, hd);
          __syncthreads();
          accumulate_score_pairs<C>(s, dp, k_s, v_s, q_s, do_s, row0, lane, cw);
        }
      }
      // P and dS (zero where masked).
      const int64_t i = i0 + lane;
      TS_ATTN_UNROLL
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int64_t j = k0 + row0 + r;
        float p = 0.0f, ds = 0.0f;
        if (key_visible(i, j, seq, window)) {
          p = expf(s[r] * scale - lse_s[lane]);
          ds = p * (dp[r] - delta_s[lane]);
        }
        p_s[(row0 + r) * kTile + lane] = p;
        ds_s[(row0 + r) * kTile + lane] = ds;
      }
      // dV += P·dO, dK += dS·Q (scaled at the end): lane owns pairs c = lane + 32·kk of each chunk.
      const int in = seq - i0 < kTile ? int(seq - i0) : kTile;
      TS_ATTN_UNROLL
      for (int ch = 0; ch < C::NCH; ++ch) {
        const int d0 = ch * C::DC;
        if (d0 < hd) {
          const int cw = (hd - d0 + 1) / 2 < C::CW ? (hd - d0 + 1) / 2 : C::CW;
          __syncthreads();  // P/dS written; readers of the score phase are done with q_s/do_s
          if (!single) {
            load_pairs(q_s, C::STRIDE, qb, q_row, i0, seq, d0, cw, hd);
            load_pairs(do_s, C::STRIDE, dob, q_row, i0, seq, d0, cw, hd);
            __syncthreads();
          }
          for (int ii = 0; ii < in; ++ii) {
            float p[kRowsPerWarp], ds[kRowsPerWarp];
            TS_ATTN_UNROLL
            for (int r = 0; r < kRowsPerWarp; ++r) {
              p[r] = p_s[(row0 + r) * kTile + ii];
              ds[r] = ds_s[(row0 + r) * kTile + ii];
            }
            TS_ATTN_UNROLL
            for (int kk = 0; kk < C::LW; ++kk) {
              const int c = lane + kk * kWarpSize;
              if (c < cw) {
                const unsigned qw = q_s[ii * C::STRIDE + c], ow = do_s[ii * C::STRIDE + c];
                const float q_lo = lo_half(qw), q_hi = hi_half(qw), o_lo = lo_half(ow), o_hi = hi_half(ow);
                TS_ATTN_UNROLL
                for (int r = 0; r < kRowsPerWarp; ++r) {
                  dv_acc[r][ch * C::LW + kk][0] += p[r] * o_lo;
                  dv_acc[r][ch * C::LW + kk][1] += p[r] * o_hi;
                  dk_acc[r][ch * C::LW + kk][0] += ds[r] * q_lo;
                  dk_acc[r][ch * C::LW + kk][1] += ds[r] * q_hi;
                }
              }
            }
          }
        }
      }
    }
  }

  TS_ATTN_UNROLL
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t j = k0 + row0 + r;
    if (j < seq) {
      store_row(dk + (b * seq + j) * kv_row + g * hd, dk_acc[r], lane, hd, scale);
      store_row(dv + (b * seq + j) * kv_row + g * hd, dv_acc[r], lane, hd, 1.0f);
    }
  }
}

// dQ for 32 queries of head h: loops over the key tiles they see. Lane = key in the score phase;
// lane = pair of the head dim when accumulating.
template <int HD_MAX>
__global__ void __launch_bounds__(kThreads)
    attention_backward_dq_kernel(bf16* dq, const bf16* dout, const bf16* out, const float* lse, const bf16* q,
                                 const bf16* k, const bf16* v, int64_t seq, int64_t heads, int64_t kv_heads, int hd,
                                 int64_t window, float scale) {
  using C = Chunks<HD_MAX>;
  __shared__ unsigned q_s[kTile * C::CW], do_s[kTile * C::CW];          // the block's queries
  __shared__ unsigned k_s[kTile * C::STRIDE], v_s[kTile * C::STRIDE];   // the streamed keys
  __shared__ float ds_s[kTile * kTile];                                 // [query row][key]

  const int tid = int(threadIdx.x), warp = tid / kWarpSize, lane = tid % kWarpSize;
  const int64_t q0 = int64_t(blockIdx.x) * kTile;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int64_t g = h / (heads / kv_heads);
  const int64_t q_row = heads * hd, kv_row = kv_heads * hd;
  const bf16* qb = q + b * seq * q_row + h * hd;
  const bf16* dob = dout + b * seq * q_row + h * hd;
  const bf16* ob = out + b * seq * q_row + h * hd;
  const bf16* kb = k + b * seq * kv_row + g * hd;
  const bf16* vb = v + b * seq * kv_row + g * hd;
  const int row0 = warp * kRowsPerWarp;
  const bool single = hd <= C::DC;

  float lse_r[kRowsPerWarp], delta_r[kRowsPerWarp], acc[kRowsPerWarp][C::NCH * C::LW][2];
  TS_ATTN_UNROLL
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t i = q0 + row0 + r;
    lse_r[r] = i < seq ? lse[(b * heads + h) * seq + i] : 0.0f;
    delta_r[r] = row_delta(dob, ob, q_row, i, seq, hd, lane);
    TS_ATTN_UNROLL
    for (int kk = 0; kk < C::NCH * C::LW; ++kk) acc[r][kk][0] = acc[r][kk][1] = 0.0f;
  }
  if (single) {
    const int words = (hd + 1) / 2;
    load_pairs(q_s, C::CW, qb, q_row, q0, seq, 0, words, hd);
    load_pairs(do_s, C::CW, dob, q_row, q0, seq, 0, words, hd);
  }

  const int64_t q_last = (q0 + kTile < seq ? q0 + kTile : seq) - 1;
  const int64_t k_first = window > 0 && q0 - window + 1 > 0 ? q0 - window + 1 : 0;
  for (int64_t k0 = k_first / kTile * kTile; k0 <= q_last; k0 += kTile) {
    __syncthreads();  // the previous tile's readers are done with every buffer
    float s[kRowsPerWarp], dp[kRowsPerWarp];
    TS_ATTN_UNROLL
    for (int r = 0; r < kRowsPerWarp; ++r) s[r] = dp[r] = 0.0f;
    TS_ATTN_UNROLL
    for (int ch = 0; ch < C::NCH; ++ch) {
      const int d0 = ch * C::DC;
      if (d0 < hd) {
        const int cw = (hd - d0 + 1) / 2 < C::CW ? (hd - d0 + 1) / 2 : C::CW;
        if (ch > 0) __syncthreads();
        if (!single) {
          load_pairs(q_s, C::CW, qb, q_row, q0, seq, d0, cw, hd);
          load_pairs(do_s, C::CW, dob, q_row, q0, seq, d0, cw, hd);
        }
        load_pairs(k_s, C::STRIDE, kb, kv_row, k0, seq, d0, cw, hd);
        load_pairs(v_s, C::STRIDE, vb, kv_row, k0, seq, d0, cw, hd);
        __syncthreads();
        accumulate_score_pairs<C>(s, dp, q_s, do_s, k_s, v_s, row0, lane, cw);
      }
    }
    const int64_t j = k0 + lane;
    TS_ATTN_UNROLL
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int64_t i = q0 + row0 + r;
      float ds = 0.0f;
      if (key_visible(i, j, seq, window)) ds = expf(s[r] * scale - lse_r[r]) * (dp[r] - delta_r[r]);
      ds_s[(row0 + r) * kTile + lane] = ds;
    }
    // dQ += dS·K: lane owns pairs c = lane + 32·kk of each chunk.
    const int jn = seq - k0 < kTile ? int(seq - k0) : kTile;
    TS_ATTN_UNROLL
    for (int ch = 0; ch < C::NCH; ++ch) {
      const int d0 = ch * C::DC;
      if (d0 < hd) {
        const int cw = (hd - d0 + 1) / 2 < C::CW ? (hd - d0 + 1) / 2 : C::CW;
        __syncthreads();  // dS written; readers of the score phase are done with k_s
        if (!single) {
          load_pairs(k_s, C::STRIDE, kb, kv_row, k0, seq, d0, cw, hd);
          __syncthreads();
        }
        for (int jj = 0; jj < jn; ++jj) {
          float ds[kRowsPerWarp];
          TS_ATTN_UNROLL
          for (int r = 0; r < kRowsPerWarp; ++r) ds[r] = ds_s[(row0 + r) * kTile + jj];
          TS_ATTN_UNROLL
          for (int kk = 0; kk < C::LW; ++kk) {
            const int c = lane + kk * kWarpSize;
            if (c < cw) {
              const unsigned kw = k_s[jj * C::STRIDE + c];
              const float k_lo = lo_half(kw), k_hi = hi_half(kw);
              TS_ATTN_UNROLL
              for (int r = 0; r < kRowsPerWarp; ++r) {
                acc[r][ch * C::LW + kk][0] += ds[r] * k_lo;
                acc[r][ch * C::LW + kk][1] += ds[r] * k_hi;
              }
            }
          }
        }
      }
    }
  }

  TS_ATTN_UNROLL
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t i = q0 + row0 + r;
    if (i < seq) store_row(dq + (b * seq + i) * q_row + h * hd, acc[r], lane, hd, scale);
  }
}

// --- decode -----------------------------------------------------------------------------------
// One block per query head; warp w walks keys j0 + w, j0 + w + 4, ... with an online softmax (lane
// owns dims lane + 32·kk), then the four partial results are merged in warp order.
template <int HD_MAX>
__global__ void __launch_bounds__(kThreads)
    attention_decode_kernel(bf16* out, const bf16* q, const bf16* k_cache, const bf16* v_cache, int64_t length,
                            int64_t heads, int64_t kv_heads, int hd, int64_t window, float scale) {
  constexpr int PER = HD_MAX / kWarpSize;
  __shared__ float m_s[kWarps], l_s[kWarps];
  __shared__ float acc_s[kWarps * HD_MAX];

  const int tid = int(threadIdx.x), warp = tid / kWarpSize, lane = tid % kWarpSize;
  const int64_t h = blockIdx.x;
  const int64_t g = h / (heads / kv_heads);
  const int64_t kv_row = kv_heads * hd;
  float qr[PER], acc[PER];
  TS_ATTN_UNROLL
  for (int kk = 0; kk < PER; ++kk) {
    const int d = lane + kk * kWarpSize;
    qr[kk] = d < hd ? bf16_to_float(q[h * hd + d]) : 0.0f;
    acc[kk] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const int64_t j0 = window > 0 && length - window > 0 ? length - window : 0;
  for (int64_t j = j0 + warp; j < length; j += kWarps) {  // warp-uniform bounds
    const bf16* kj = k_cache + j * kv_row + g * hd;
    const bf16* vj = v_cache + j * kv_row + g * hd;
    float s = 0.0f;
    TS_ATTN_UNROLL
    for (int kk = 0; kk < PER; ++kk) {
      const int d = lane + kk * kWarpSize;
      if (d < hd) s += qr[kk] * bf16_to_float(kj[d]);
    }
    s = warp_sum(s) * scale;
    const float m_new = fmaxf(m, s);
    const float alpha = expf(m - m_new), p = expf(s - m_new);
    l = l * alpha + p;
    m = m_new;
    TS_ATTN_UNROLL
    for (int kk = 0; kk < PER; ++kk) {
      const int d = lane + kk * kWarpSize;
      acc[kk] = acc[kk] * alpha + (d < hd ? p * bf16_to_float(vj[d]) : 0.0f);
    }
  }
  if (lane == 0) {
    m_s[warp] = m;
    l_s[warp] = l;
  }
  TS_ATTN_UNROLL
  for (int kk = 0; kk < PER; ++kk) acc_s[warp * HD_MAX + lane + kk * kWarpSize] = acc[kk];
  __syncthreads();
  float m_all = -INFINITY;
  for (int w = 0; w < kWarps; ++w) m_all = fmaxf(m_all, m_s[w]);
  float l_all = 0.0f, weight[kWarps];
  for (int w = 0; w < kWarps; ++w) {
    weight[w] = m_s[w] == -INFINITY ? 0.0f : expf(m_s[w] - m_all);  // a warp without keys adds nothing
    l_all += l_s[w] * weight[w];
  }
  for (int d = tid; d < hd; d += int(blockDim.x)) {
    float o = 0.0f;
    for (int w = 0; w < kWarps; ++w) o += acc_s[w * HD_MAX + d] * weight[w];
    out[h * hd + d] = float_to_bf16(o / l_all);
  }
}

void check_dims(const AttentionDims& d, const char* what) {
  if (d.batch < 1 || d.seq < 1 || d.heads < 1 || d.kv_heads < 1 || d.heads % d.kv_heads != 0 || d.head_dim < 1 ||
      d.head_dim > kMaxHeadDim || d.sliding_window < 0 || d.heads > 65535 || d.batch > 65535 ||
      d.kv_heads > 65535 || ceil_div(d.seq, kTile) > 0x7fffffffLL)
    throw Error(std::string(what) + ": unsupported attention shape (batch " + std::to_string(d.batch) + ", seq " +
                std::to_string(d.seq) + ", heads " + std::to_string(d.heads) + ", kv_heads " +
                std::to_string(d.kv_heads) + ", head_dim " + std::to_string(d.head_dim) + " (at most " +
                std::to_string(kMaxHeadDim) + "), sliding_window " + std::to_string(d.sliding_window) + ")");
}

float softmax_scale(int64_t head_dim) { return float(1.0 / std::sqrt(double(head_dim))); }

template <int HD_MAX>
void forward_impl(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, const AttentionDims& d) {
  const dim3 grid(unsigned(ceil_div(d.seq, kTile)), unsigned(d.heads), unsigned(d.batch));
  launch("attention_forward", attention_forward_kernel<HD_MAX>, grid, dim3(kThreads), 0, out, lse, q, k, v, d.seq,
         d.heads, d.kv_heads, int(d.head_dim), d.sliding_window, softmax_scale(d.head_dim));
}

template <int HD_MAX>
void backward_impl(bf16* dq, bf16* dk, bf16* dv, const bf16* dout, const bf16* out, const float* lse,
                   const bf16* q, const bf16* k, const bf16* v, const AttentionDims& d) {
  const unsigned tiles = unsigned(ceil_div(d.seq, kTile));
  const float scale = softmax_scale(d.head_dim);
  launch("attention_backward_dkv", attention_backward_dkv_kernel<HD_MAX>, dim3(tiles, unsigned(d.kv_heads), unsigned(d.batch)),
         dim3(kThreads), 0, dk, dv, dout, out, lse, q, k, v, d.seq, d.heads, d.kv_heads, int(d.head_dim),
         d.sliding_window, scale);
  launch("attention_backward_dq", attention_backward_dq_kernel<HD_MAX>, dim3(tiles, unsigned(d.heads), unsigned(d.batch)),
         dim3(kThreads), 0, dq, dout, out, lse, q, k, v, d.seq, d.heads, d.kv_heads, int(d.head_dim),
         d.sliding_window, scale);
}

template <int HD_MAX>
void decode_impl(bf16* out, const bf16* q, const bf16* k_cache, const bf16* v_cache, int64_t length, int64_t heads,
                 int64_t kv_heads, int64_t head_dim, int64_t sliding_window) {
  launch("attention_decode", attention_decode_kernel<HD_MAX>, dim3(unsigned(heads)), dim3(kThreads), 0, out, q,
         k_cache, v_cache, length, heads, kv_heads, int(head_dim), sliding_window, softmax_scale(head_dim));
}

}  // namespace

void attention_forward(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, const AttentionDims& d) {
  check_dims(d, "attention_forward");
  if (d.head_dim <= 64) forward_impl<64>(out, lse, q, k, v, d);
  else if (d.head_dim <= 128) forward_impl<128>(out, lse, q, k, v, d);
  else forward_impl<256>(out, lse, q, k, v, d);
}

void attention_backward(bf16* dq, bf16* dk, bf16* dv, const bf16* dout, const bf16* out, const float* lse,
                        const bf16* q, const bf16* k, const bf16* v, const AttentionDims& d) {
  check_dims(d, "attention_backward");
  if (d.head_dim <= 64) backward_impl<64>(dq, dk, dv, dout, out, lse, q, k, v, d);
  else if (d.head_dim <= 128) backward_impl<128>(dq, dk, dv, dout, out, lse, q, k, v, d);
  else backward_impl<256>(dq, dk, dv, dout, out, lse, q, k, v, d);
}

void attention_decode(bf16* out, const bf16* q, const bf16* k_cache, const bf16* v_cache, int64_t length,
                      int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t sliding_window) {
  AttentionDims d;
  d.seq = length;
  d.heads = heads;
  d.kv_heads = kv_heads;
  d.head_dim = head_dim;
  d.sliding_window = sliding_window;
  check_dims(d, "attention_decode");
  if (head_dim <= 64) decode_impl<64>(out, q, k_cache, v_cache, length, heads, kv_heads, head_dim, sliding_window);
  else if (head_dim <= 128) decode_impl<128>(out, q, k_cache, v_cache, length, heads, kv_heads, head_dim, sliding_window);
  else decode_impl<256>(out, q, k_cache, v_cache, length, heads, kv_heads, head_dim, sliding_window);
}

}  // namespace tunesmith::gpu
