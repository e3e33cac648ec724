// Matrix multiply C (+)= A·B, the op that dominates training time.
//
// Blocking: the output is cut into tiles of kTileRows x kTileCols that threads take; within a
// tile, k runs in blocks of kBlockK so the B block (kBlockK x kTileCols) stays in L2 and the
// 16-column panel being used stays in L1. The float micro-kernel keeps a 4x16 block of C in eight
// 8-wide vector registers across the k loop (one B load serves four rows).
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/ops.h"

namespace tunesmith {
namespace cpu {
namespace {

constexpr int64_t kTileRows = 64;
constexpr int64_t kTileCols = 256;
constexpr int64_t kBlockK = 256;

// Generic tile (used for double and for compilers without vector extensions): C += A·B with the
// same ascending-k order per element as the vector kernel.
template <typename T>
void gemm_tile_generic(const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc, int64_t rows,
                       int64_t cols, int64_t depth) {
  for (int64_t i = 0; i < rows; ++i) {
    T* c_row = c + i * ldc;
    for (int64_t p = 0; p < depth; ++p) {
      const T a_ip = a[i * lda + p];
      const T* b_row = b + p * ldb;
      for (int64_t j = 0; j < cols; ++j) c_row[j] += a_ip * b_row[j];
    }
  }
}


#if defined(__GNUC__)
typedef float vec8 __attribute__((vector_size(32)));

// C[rows, 16-wide panel] += A[rows, depth] · P, with P the panel of B packed contiguously as
// [depth][16] (zero-padded past `cols`). Packing matters: B rows are ldb apart, and walking 256 of
// them at a stride like 5.6 KB maps onto a handful of L1 sets and thrashes.
// The body is compiled twice: once for the baseline ISA and once with AVX2+FMA, chosen at run
// time by CPU feature (not by CPU model, which is what target_clones("arch=...") would test).
__attribute__((always_inline)) inline void gemm_panel_body(const float* a, int64_t lda, const float* packed, float* c, int64_t ldc, int64_t rows,
                    int64_t cols, int64_t depth) {
  int64_t i = 0;
  if (cols == 16) {
    for (; i + 4 <= rows; i += 4) {
      vec8 acc[4][2];
      for (int r = 0; r < 4; ++r) {
        __builtin_memcpy(&acc[r][0], c + (i + r) * ldc, 32);
        __builtin_memcpy(&acc[r][1], c + (i + r) * ldc + 8, 32);
      }
      const float* a0 = a + i * lda;
      for (int64_t p = 0; p < depth; ++p) {
        vec8 b0, b1;
        __builtin_memcpy(&b0, packed + p * 16, 32);
        __builtin_memcpy(&b1, packed + p * 16 + 8, 32);
        for (int r = 0; r < 4; ++r) {
          const float a_rp = a0[r * lda + p];
          acc[r][0] += a_rp * b0;
          acc[r][1] += a_rp * b1;
        }
      }
      for (int r = 0; r < 4; ++r) {
        __builtin_memcpy(c + (i + r) * ldc, &acc[r][0], 32);
        __builtin_memcpy(c + (i + r) * ldc + 8, &acc[r][1], 32);
      }
    }
  }
  // Remaining rows, or a narrow last panel: one row at a time through a 16-wide temporary.
  for (; i < rows; ++i) {
    float tmp[16] = {0};
    for (int64_t j = 0; j < cols; ++j) tmp[j] = c[i * ldc + j];
    vec8 acc0, acc1;
    __builtin_memcpy(&acc0, tmp, 32);
    __builtin_memcpy(&acc1, tmp + 8, 32);
    for (int64_t p = 0; p < depth; ++p) {
      vec8 b0, b1;
      __builtin_memcpy(&b0, packed + p * 16, 32);
      __builtin_memcpy(&b1, packed + p * 16 + 8, 32);
      const float a_ip = a[i * lda + p];
      acc0 += a_ip * b0;
      acc1 += a_ip * b1;
    }
    __builtin_memcpy(tmp, &acc0, 32);
    __builtin_memcpy(tmp + 8, &acc1, 32);
    for (int64_t j = 0; j < cols; ++j) c[i * ldc + j] = tmp[j];
  }
}

void gemm_panel_baseline(const float* a, int64_t lda, const float* packed, float* c, int64_t ldc, int64_t rows,
                         int64_t cols, int64_t depth) {
  gemm_panel_body(a, lda, packed, c, ldc, rows, cols, depth);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) void gemm_panel_avx2(const float* a, int64_t lda, const float* packed, float* c,
                                                        int64_t ldc, int64_t rows, int64_t cols, int64_t depth) {
  gemm_panel_body(a, lda, packed, c, ldc, rows, cols, depth);
}

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}
#endif

void gemm_panel(const float* a, int64_t lda, const float* packed, float* c, int64_t ldc, int64_t rows, int64_t cols,
                int64_t depth) {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx2_fma()) return gemm_panel_avx2(a, lda, packed, c, ldc, rows, cols, depth);
#endif
  gemm_panel_baseline(a, lda, packed, c, ldc, rows, cols, depth);
}

void gemm_tile_f32(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t rows,
                   int64_t cols, int64_t depth) {
  thread_local std::vector<float> packed;
  packed.resize(size_t(depth * 16));
  for (int64_t j = 0; j < cols; j += 16) {
    const int64_t width = std::min<int64_t>(16, cols - j);
    for (int64_t p = 0; p < depth; ++p) {
      const float* src = b + p * ldb + j;
      float* dst = packed.data() + p * 16;
      int64_t q = 0;
      for (; q < width; ++q) dst[q] = src[q];
      for (; q < 16; ++q) dst[q] = 0.0f;
    }
    gemm_panel(a, lda, packed.data(), c + j, ldc, rows, width, depth);
  }
}
#endif

template <typename T>
void gemm_tile(const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc, int64_t rows, int64_t cols,
               int64_t depth) {
  gemm_tile_generic(a, lda, b, ldb, c, ldc, rows, cols, depth);
}

#if defined(__GNUC__)
template <>
void gemm_tile<float>(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t rows,
                      int64_t cols, int64_t depth) {
  gemm_tile_f32(a, lda, b, ldb, c, ldc, rows, cols, depth);
}
#endif

}  // namespace

template <typename T>
void gemm(ThreadPool& pool, const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc, int64_t m, int64_t n,
          int64_t k, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  // Few rows (decode, small batches): narrower column tiles so every thread still gets work.
  const int64_t tile_cols = (m <= 16) ? 64 : kTileCols;
  const int64_t row_tiles = (m + kTileRows - 1) / kTileRows;
  const int64_t col_tiles = (n + tile_cols - 1) / tile_cols;
  pool.parallel_for(row_tiles * col_tiles, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r0 = (t / col_tiles) * kTileRows;
      const int64_t c0 = (t % col_tiles) * tile_cols;
      const int64_t rows = std::min(kTileRows, m - r0);
      const int64_t cols = std::min(tile_cols, n - c0);
      if (!accumulate)
        for (int64_t i = 0; i < rows; ++i) std::fill(c + (r0 + i) * ldc + c0, c + (r0 + i) * ldc + c0 + cols, T(0));
      for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
        const int64_t depth = std::min(kBlockK, k - p0);
        gemm_tile<T>(a + r0 * lda + p0, lda, b + p0 * ldb + c0, ldb, c + r0 * ldc + c0, ldc, rows, cols, depth);
      }
    }
  });
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
template void transpose<float>(ThreadPool&, float*, const float*, int64_t, int64_t);
template void transpose<double>(ThreadPool&, double*, const double*, int64_t, int64_t);

}  // namespace cpu
}  // namespace tunesmith
