// Matrix multiply C (+)= op(A)·op(B) (either operand may be stored transposed), the op that
// dominates training time.
//
// float path: A is packed once per call (in parallel) into 6-row groups [depth][6] per k-block of
// kBlockK, from either layout. Tasks own a column tile of C (64 columns with a pool; rows are
// split too when there are few column tiles for many threads), so a C element is only ever
// touched by one thread and its sum runs over k in ascending order: results do not depend on the
// thread count. Per k-block a task packs its B columns into 16-wide panels [depth][16] (from
// either layout: x·Wᵀ needs no transposed copy of W) and sweeps them with the packed A groups.
// The micro-kernel keeps a 6x16 block of C in twelve 8-wide registers across the k loop (one pair
// of B loads serves six rows); it is compiled for AVX2+FMA, picked at run time by CPU feature
// (simd.h), with a 6x8 SSE variant for the baseline ISA. double (gradient tests) takes a plain
// loop with the same per-element order.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define TUNESMITH_GEMM_X86 1
#endif

#include "cpu/ops.h"
#include "cpu/simd.h"

namespace tunesmith {
namespace cpu {
namespace {

constexpr int64_t kTileCols = 256;
constexpr int64_t kBlockK = 256;
constexpr int64_t kPanel = 16;

// Columns per task: kTileCols on one thread; 64 with a pool, so the ~n/64 tasks split evenly
// (n = 1408 in 128-column tiles gives 11 tasks, 6 + 5 on two threads) and the pool's dynamic
// chunks can even out a thread the OS delays. Narrow tiles cost little: every 16-column panel
// sweeps the A block once whatever the tile width, and B is packed once either way.
int64_t tile_cols_for(int64_t n, int threads) {
  (void)n;
  return threads > 1 ? 64 : kTileCols;
}

// Generic (double, and compilers without vector extensions): C tile += A·B with the same
// ascending-k order per element as the vector kernel.
template <typename T>
void gemm_tile_generic(const T* a, int64_t lda, bool at, const T* b, int64_t ldb, bool bt, T* c, int64_t ldc,
                       int64_t rows, int64_t cols, int64_t depth) {
  for (int64_t i = 0; i < rows; ++i) {
    T* c_row = c + i * ldc;
    for (int64_t p = 0; p < depth; ++p) {
      const T a_ip = at ? a[p * lda + i] : a[i * lda + p];
      if (bt) {
        for (int64_t j = 0; j < cols; ++j) c_row[j] += a_ip * b[j * ldb + p];
      } else {
        const T* b_row = b + p * ldb;
        for (int64_t j = 0; j < cols; ++j) c_row[j] += a_ip * b_row[j];
      }
    }
  }
}

template <typename T>
void gemm_columns(const T* a, int64_t lda, bool at, const T* b, int64_t ldb, bool bt, T* c, int64_t ldc, int64_t m,
                  int64_t c0, int64_t cols, int64_t k) {
  for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
    const int64_t depth = std::min(kBlockK, k - p0);
    const T* bb = bt ? b + c0 * ldb + p0 : b + p0 * ldb + c0;
    gemm_tile_generic(at ? a + p0 * lda : a + p0, lda, at, bb, ldb, bt, c + c0, ldc, m, cols, depth);
  }
}

#if defined(__GNUC__)
constexpr int64_t kMr = 6;  // rows per register block (and per packed A group)

// C[R rows, 16] += A[R, depth] · P. A is a packed group, element (r, p) at a[p·6 + r]; P a packed
// B panel [depth][16]. R < 6 for the last group when m is not a multiple of 6.
template <int R>
__attribute__((always_inline)) inline void kernel_rows(const float* a, const float* packed, float* c, int64_t ldc,
                                                       int64_t cols, int64_t depth, bool load_c) {
  vec8 acc[R][2];
  if (!load_c) {
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = vec8{0, 0, 0, 0, 0, 0, 0, 0};
  } else if (cols == kPanel) {
    for (int r = 0; r < R; ++r) {
      __builtin_memcpy(&acc[r][0], c + r * ldc, 32);
      __builtin_memcpy(&acc[r][1], c + r * ldc + 8, 32);
    }
  } else {
    for (int r = 0; r < R; ++r) {
      float tmp[kPanel] = {0};
      for (int64_t j = 0; j < cols; ++j) tmp[j] = c[r * ldc + j];
      __builtin_memcpy(&acc[r][0], tmp, 32);
      __builtin_memcpy(&acc[r][1], tmp + 8, 32);
    }
  }
#pragma GCC unroll 4
  for (int64_t p = 0; p < depth; ++p) {
    vec8 b0, b1;
    __builtin_memcpy(&b0, packed + p * kPanel, 32);
    __builtin_memcpy(&b1, packed + p * kPanel + 8, 32);
    for (int r = 0; r < R; ++r) {
      const float a_rp = a[p * kMr + r];
      acc[r][0] += a_rp * b0;
      acc[r][1] += a_rp * b1;
    }
  }
  if (cols == kPanel) {
    for (int r = 0; r < R; ++r) {
      __builtin_memcpy(c + r * ldc, &acc[r][0], 32);
      __builtin_memcpy(c + r * ldc + 8, &acc[r][1], 32);
    }
  } else {
    for (int r = 0; r < R; ++r) {
      float tmp[kPanel];
      __builtin_memcpy(tmp, &acc[r][0], 32);
      __builtin_memcpy(tmp + 8, &acc[r][1], 32);
      for (int64_t j = 0; j < cols; ++j) c[r * ldc + j] = tmp[j];
    }
  }
}

// Baseline-ISA version (x86-64 without AVX2 has 16 SSE registers): the 16-column panel in two
// 8-column halves, each a 6x8 block in twelve 4-wide accumulators. Same per-element order.
typedef float vec4 __attribute__((vector_size(16)));
template <int R>
__attribute__((always_inline)) inline void kernel_rows_narrow(const float* a, const float* packed, float* c,
                                                              int64_t ldc, int64_t cols, int64_t depth, bool load_c) {
  for (int64_t off = 0; off < cols; off += 8) {
    const int64_t w = std::min<int64_t>(8, cols - off);
    vec4 acc[R][2];
    for (int r = 0; r < R; ++r) {
      float tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      if (load_c)
        for (int64_t j = 0; j < w; ++j) tmp[j] = c[r * ldc + off + j];
      __builtin_memcpy(&acc[r][0], tmp, 16);
      __builtin_memcpy(&acc[r][1], tmp + 4, 16);
    }
    for (int64_t p = 0; p < depth; ++p) {
      vec4 b0, b1;
      __builtin_memcpy(&b0, packed + p * kPanel + off, 16);
      __builtin_memcpy(&b1, packed + p * kPanel + off + 4, 16);
      for (int r = 0; r < R; ++r) {
        const float a_rp = a[p * kMr + r];
        acc[r][0] += a_rp * b0;
        acc[r][1] += a_rp * b1;
      }
    }
    for (int r = 0; r < R; ++r) {
      float tmp[8];
      __builtin_memcpy(tmp, &acc[r][0], 16);
      __builtin_memcpy(tmp + 4, &acc[r][1], 16);
      for (int64_t j = 0; j < w; ++j) c[r * ldc + off + j] = tmp[j];
    }
  }
}

template <bool kWide, int R>
__attribute__((always_inline)) inline void kernel(const float* a, const float* packed, float* c, int64_t ldc,
                                                  int64_t cols, int64_t depth, bool load_c) {
  if constexpr (kWide)
    kernel_rows<R>(a, packed, c, ldc, cols, depth, load_c);
  else
    kernel_rows_narrow<R>(a, packed, c, ldc, cols, depth, load_c);
}

// Groups of 16 (96 rows) so the packed A block (96 x depth) stays in L2 while the panels sweep it.
constexpr int64_t kGroupBlock = 16;

// C[m, cols] (+)= A-block · B-block, A packed as groups [depth][6], B as panels [depth][16]; C is
// overwritten rather than read when !load_c (first k-block of a non-accumulating gemm).
template <bool kWide>
__attribute__((always_inline)) inline void block_body(const float* apack, const float* bpack, float* c, int64_t ldc,
                                                      int64_t m, int64_t cols, int64_t depth, bool load_c) {
  const int64_t groups = (m + kMr - 1) / kMr;
  for (int64_t g0 = 0; g0 < groups; g0 += kGroupBlock) {
    const int64_t g1 = std::min(groups, g0 + kGroupBlock);
    for (int64_t j = 0; j < cols; j += kPanel) {
      const int64_t width = std::min(kPanel, cols - j);
      const float* panel = bpack + j * depth;
      for (int64_t g = g0; g < g1; ++g) {
        const float* a = apack + g * depth * kMr;
        float* cg = c + g * kMr * ldc + j;
        const int64_t rows = std::min(kMr, m - g * kMr);
        if (rows == kMr) {
          kernel<kWide, 6>(a, panel, cg, ldc, width, depth, load_c);
          continue;
        }
        int64_t r = 0;
        if (rows - r >= 4) {
          kernel<kWide, 4>(a + r, panel, cg + r * ldc, ldc, width, depth, load_c);
          r += 4;
        }
        if (rows - r >= 2) {
          kernel<kWide, 2>(a + r, panel, cg + r * ldc, ldc, width, depth, load_c);
          r += 2;
        }
        if (rows - r >= 1) kernel<kWide, 1>(a + r, panel, cg + r * ldc, ldc, width, depth, load_c);
      }
    }
  }
}

void block_baseline(const float* apack, const float* bpack, float* c, int64_t ldc, int64_t m, int64_t cols,
                    int64_t depth, bool load_c) {
  block_body<false>(apack, bpack, c, ldc, m, cols, depth, load_c);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) void block_avx2(const float* apack, const float* bpack, float* c, int64_t ldc,
                                                   int64_t m, int64_t cols, int64_t depth, bool load_c) {
  block_body<true>(apack, bpack, c, ldc, m, cols, depth, load_c);
}

#endif

#if defined(TUNESMITH_GEMM_X86)
// 8x8 float transpose in registers: r[i] holds row i on entry, column i on exit.
__attribute__((target("avx2,fma"), always_inline)) inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// Full 16-wide panel from Bᵀ rows: panel[p·16 + q] = src[q·ldb + p], p < depth8 (a multiple of 8).
__attribute__((target("avx2,fma"))) void pack_bt_panel_avx2(float* panel, const float* src, int64_t ldb,
                                                           int64_t depth8) {
  for (int64_t half = 0; half < 2; ++half) {
    const float* s = src + half * 8 * ldb;
    for (int64_t p = 0; p < depth8; p += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(s + i * ldb + p);
      transpose8(r);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(panel + (p + i) * 16 + half * 8, r[i]);
    }
  }
}

// Full 6-row group from row-major A: d[p·6 + r] = src[r·lda + p], p < depth8 (a multiple of 8).
__attribute__((target("avx2,fma"))) void pack_a_group_avx2(float* d, const float* src, int64_t lda, int64_t depth8) {
  for (int64_t p = 0; p < depth8; p += 8) {
    __m256 r[8];
    for (int i = 0; i < 6; ++i) r[i] = _mm256_loadu_ps(src + i * lda + p);
    r[6] = r[7] = _mm256_setzero_ps();
    transpose8(r);
    // 8-wide stores in ascending order: each one's 2 extra lanes land in the next slot and are
    // overwritten by the next store. The last of the 8 is stored as 4 + 2 so nothing is written
    // past this block (the next group may belong to another thread). (No maskstore: it is
    // microcoded and slow on AMD.)
    for (int i = 0; i < 7; ++i) _mm256_storeu_ps(d + (p + i) * 6, r[i]);
    float* last = d + (p + 7) * 6;
    _mm_storeu_ps(last, _mm256_castps256_ps128(r[7]));
    _mm_storel_pi(reinterpret_cast<__m64*>(last + 4), _mm256_extractf128_ps(r[7], 1));
  }
}
#endif

// Packs B[p0 .. p0+depth, c0 .. c0+cols] (or its transposed layout) as consecutive panels, each
// [depth][16] with zeros past the last column.
void pack_b(float* dst, const float* b, int64_t ldb, bool bt, int64_t p0, int64_t depth, int64_t c0, int64_t cols) {
  for (int64_t j = 0; j < cols; j += kPanel) {
    const int64_t width = std::min(kPanel, cols - j);
    float* panel = dst + j * depth;
    if (!bt) {
      for (int64_t p = 0; p < depth; ++p) {
        const float* src = b + (p0 + p) * ldb + c0 + j;
        float* d = panel + p * kPanel;
        if (width == kPanel) {
          std::memcpy(d, src, sizeof(float) * kPanel);
        } else {
          int64_t q = 0;
          for (; q < width; ++q) d[q] = src[q];
          for (; q < kPanel; ++q) d[q] = 0.0f;
        }
      }
    } else {
      int64_t p_done = 0;
#if defined(TUNESMITH_GEMM_X86)
      if (width == kPanel && cpu_has_avx2_fma()) {
        p_done = depth / 8 * 8;
        pack_bt_panel_avx2(panel, b + (c0 + j) * ldb + p0, ldb, p_done);
      }
#endif
      int64_t q = 0;
      for (; q < width; ++q) {
        const float* src = b + (c0 + j + q) * ldb + p0;
        for (int64_t p = p_done; p < depth; ++p) panel[p * kPanel + q] = src[p];
      }
      for (; q < kPanel; ++q)
        for (int64_t p = 0; p < depth; ++p) panel[p * kPanel + q] = 0.0f;
    }
  }
}

// Packs row group g of A (rows 6g .. 6g+5, zeros past m) for every k-block: the block starting at
// p0 lives at dst + p0·mpad, group g of it at + g·depth·6, element (r, p) at + p·6 + r.
void pack_a_group(float* dst, const float* a, int64_t lda, bool at, int64_t m, int64_t mpad, int64_t k, int64_t g) {
  const int64_t rows = std::min(kMr, m - g * kMr);
  for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
    const int64_t depth = std::min(kBlockK, k - p0);
    float* d = dst + p0 * mpad + g * depth * kMr;
    if (at) {
      for (int64_t p = 0; p < depth; ++p) {
        const float* src = a + (p0 + p) * lda + g * kMr;
        int64_t r = 0;
        for (; r < rows; ++r) d[p * kMr + r] = src[r];
        for (; r < kMr; ++r) d[p * kMr + r] = 0.0f;
      }
    } else {
      int64_t p_done = 0;
#if defined(TUNESMITH_GEMM_X86)
      if (rows == kMr && cpu_has_avx2_fma()) {
        p_done = depth / 8 * 8;
        pack_a_group_avx2(d, a + g * kMr * lda + p0, lda, p_done);
      }
#endif
      int64_t r = 0;
      for (; r < rows; ++r) {
        const float* src = a + (g * kMr + r) * lda + p0;
        for (int64_t p = p_done; p < depth; ++p) d[p * kMr + r] = src[p];
      }
      for (; r < kMr; ++r)
        for (int64_t p = 0; p < depth; ++p) d[p * kMr + r] = 0.0f;
    }
  }
}

// Rows [6·g0, 6·g0 + rows) × columns [c0, c0 + cols) of C, all of k.
void gemm_columns_f32(const float* apack, int64_t mpad, int64_t g0, int64_t rows, const float* b, int64_t ldb, bool bt,
                      float* c, int64_t ldc, int64_t c0, int64_t cols, int64_t k, bool accumulate) {
  // 64-byte aligned so no 16-float panel row straddles two cache lines.
  thread_local std::vector<float> packed_buf;
  const int64_t padded = (cols + kPanel - 1) / kPanel * kPanel;
  packed_buf.resize(size_t(std::min(kBlockK, k) * padded + 16));
  float* packed_ptr = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(packed_buf.data()) + 63) & ~uintptr_t(63));
  for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
    const int64_t depth = std::min(kBlockK, k - p0);
    pack_b(packed_ptr, b, ldb, bt, p0, depth, c0, cols);
#if defined(__x86_64__) || defined(__i386__)
    if (cpu_has_avx2_fma()) {
      block_avx2(apack + p0 * mpad + g0 * depth * kMr, packed_ptr, c + g0 * kMr * ldc + c0, ldc, rows, cols, depth,
                 accumulate || p0 > 0);
      continue;
    }
#endif
    block_baseline(apack + p0 * mpad + g0 * depth * kMr, packed_ptr, c + g0 * kMr * ldc + c0, ldc, rows, cols, depth,
                   accumulate || p0 > 0);
  }
}
#endif

template <typename T>
void gemm_impl(ThreadPool* pool, const T* a, int64_t lda, bool at, const T* b, int64_t ldb, bool bt, T* c, int64_t ldc,
               int64_t m, int64_t n, int64_t k, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  const int64_t tile_cols = tile_cols_for(n, pool ? pool->size() : 1);
  const int64_t tiles = (n + tile_cols - 1) / tile_cols;
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t c0 = t * tile_cols;
      const int64_t cols = std::min(tile_cols, n - c0);
      if (!accumulate)
        for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc + c0, c + i * ldc + c0 + cols, T(0));
      if (k > 0) gemm_columns<T>(a, lda, at, b, ldb, bt, c, ldc, m, c0, cols, k);
    }
  };
  if (pool)
    pool->parallel_for(tiles, run);
  else
    run(0, tiles);
}

#if defined(__GNUC__)
// float: A is packed once per call (in parallel, into [k-block][group][depth][6]) and shared by
// every column task; each task packs its own B panels per k-block.
template <>
void gemm_impl<float>(ThreadPool* pool, const float* a, int64_t lda, bool at, const float* b, int64_t ldb, bool bt,
                      float* c, int64_t ldc, int64_t m, int64_t n, int64_t k, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  const int64_t mpad = (m + kMr - 1) / kMr * kMr, groups = mpad / kMr;
  thread_local std::vector<float> apack_buf;
  float* apack = nullptr;
  if (k > 0) {
    if (apack_buf.size() < size_t(mpad * k)) apack_buf.resize(size_t(mpad * k));
    apack = apack_buf.data();
    auto pack = [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g) pack_a_group(apack, a, lda, at, m, mpad, k, g);
    };
    if (pool && groups * k >= 16384)
      pool->parallel_for(groups, pack);
    else
      pack(0, groups);
  }
  const int threads = pool ? pool->size() : 1;
  const int64_t tile_cols = tile_cols_for(n, threads);
  const int64_t col_tiles = (n + tile_cols - 1) / tile_cols;
  // Few column tiles for many threads (n = 256 on 8 cores): also split the rows, in chunks of
  // whole 6-row groups, each chunk at least 8 groups.
  int64_t row_chunks = 1;
  while (col_tiles * row_chunks < 2 * int64_t(threads) && groups / (row_chunks * 2) >= 8) row_chunks *= 2;
  const int64_t groups_per_chunk = (groups + row_chunks - 1) / row_chunks;
  const int64_t tiles = col_tiles * row_chunks;
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t c0 = (t % col_tiles) * tile_cols;
      const int64_t cols = std::min(tile_cols, n - c0);
      const int64_t g0 = (t / col_tiles) * groups_per_chunk;
      const int64_t rows = std::min(m, (g0 + groups_per_chunk) * kMr) - g0 * kMr;
      if (rows <= 0) continue;
      if (k > 0)
        gemm_columns_f32(apack, mpad, g0, rows, b, ldb, bt, c, ldc, c0, cols, k, accumulate);
      else if (!accumulate)
        for (int64_t i = g0 * kMr; i < g0 * kMr + rows; ++i) std::fill(c + i * ldc + c0, c + i * ldc + c0 + cols, 0.0f);
    }
  };
  if (pool)
    pool->parallel_for(tiles, run);
  else
    run(0, tiles);
}
#endif

}  // namespace

template <typename T>
void gemm(ThreadPool& pool, const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc, int64_t m, int64_t n,
          int64_t k, bool accumulate) {
  gemm_impl(&pool, a, lda, false, b, ldb, false, c, ldc, m, n, k, accumulate);
}

template <typename T>
void gemm_ex(ThreadPool* pool, const T* a, int64_t lda, bool a_transposed, const T* b, int64_t ldb, bool b_transposed,
             T* c, int64_t ldc, int64_t m, int64_t n, int64_t k, bool accumulate) {
  gemm_impl(pool, a, lda, a_transposed, b, ldb, b_transposed, c, ldc, m, n, k, accumulate);
}

template <typename T>
void transpose(ThreadPool& pool, T* out, const T* in, int64_t rows, int64_t cols) {
  constexpr int64_t kBlock = 32;
  const int64_t row_blocks = (rows + kBlock - 1) / kBlock;
  pool.parallel_for(row_blocks, [&](int64_t begin, int64_t end) {
    for (int64_t rb = begin; rb < end; ++rb) {
      const int64_t r0 = rb * kBlock, r1 = std::min(rows, r0 + kBlock);
      for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
        const int64_t c1 = std::min(cols, c0 + kBlock);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t cc = c0; cc < c1; ++cc) out[cc * rows + r] = in[r * cols + cc];
      }
    }
  });
}

template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  T tail = T(0);
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

template float dot<float>(const float*, const float*, int64_t);
template double dot<double>(const double*, const double*, int64_t);
template void gemm<float>(ThreadPool&, const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t,
                          int64_t, int64_t, bool);
template void gemm<double>(ThreadPool&, const double*, int64_t, const double*, int64_t, double*, int64_t, int64_t,
                           int64_t, int64_t, bool);
template void gemm_ex<float>(ThreadPool*, const float*, int64_t, bool, const float*, int64_t, bool, float*, int64_t,
                             int64_t, int64_t, int64_t, bool);
template void gemm_ex<double>(ThreadPool*, const double*, int64_t, bool, const double*, int64_t, bool, double*,
                              int64_t, int64_t, int64_t, int64_t, bool);
template void transpose<float>(ThreadPool&, float*, const float*, int64_t, int64_t);
template void transpose<double>(ThreadPool&, double*, const double*, int64_t, int64_t);

}  // namespace cpu
}  // namespace tunesmith
