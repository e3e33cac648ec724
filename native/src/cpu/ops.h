// CPU reference kernels. Each is a template on the element type, instantiated for float (the
// engine) and double (the finite-difference gradient tests), so the tests check the very code
// the engine runs. Semantics of every op are documented in core/backend.h.
#pragma once
#include <cstdint>

#include "core/backend.h"
#include "cpu/thread_pool.h"

namespace tunesmith {
namespace cpu {

// C[m, n] = (accumulate ? C : 0) + A[m, k] · B[k, n], all row-major with leading dimensions.
// Cache-blocked, register-tiled (6x16 for float, with an AVX2/FMA clone picked at run time on
// x86-64), threaded over output tiles. Each C element's sum runs over k in ascending order, so
// the result is independent of the thread count.
template <typename T>
void gemm(ThreadPool& pool, const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc, int64_t m, int64_t n,
          int64_t k, bool accumulate);

// C[m, n] = (accumulate ? C : 0) + op(A) · op(B), op(A) = A[m, k] or, when a_transposed, the
// transpose of A[k, m]; op(B) = B[k, n] or, when b_transposed, the transpose of B[n, k] (so x·Wᵀ
// and dyᵀ·x need no separate transpose). pool == nullptr runs on the calling thread (for use
// inside another op's parallel_for). Same per-element order as gemm.
template <typename T>
void gemm_ex(ThreadPool* pool, const T* a, int64_t lda, bool a_transposed, const T* b, int64_t ldb, bool b_transposed,
             T* c, int64_t ldc, int64_t m, int64_t n, int64_t k, bool accumulate);

// Σ a[i]·b[i] with eight interleaved partial sums (vectorisable without reassociation flags).
template <typename T>
T dot(const T* a, const T* b, int64_t n);

// out[cols, rows] = in[rows, cols]ᵀ.
template <typename T>
void transpose(ThreadPool& pool, T* out, const T* in, int64_t rows, int64_t cols);

template <typename T>
void embedding_forward(ThreadPool& pool, T* out, const int32_t* ids, const T* table, int64_t n, int64_t dim);
template <typename T>
void embedding_backward(ThreadPool& pool, T* dtable, const T* dout, const int32_t* ids, int64_t n, int64_t dim);

template <typename T>
void rmsnorm_forward(ThreadPool& pool, T* out, T* rstd, const T* x, const T* w, int64_t n, int64_t dim, double eps);
template <typename T>
void rmsnorm_backward(ThreadPool& pool, T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int64_t n,
                      int64_t dim);

template <typename T>
void rope(ThreadPool& pool, T* x, const int32_t* positions, const float* inv_freq, int64_t n, int64_t heads,
          int64_t head_dim, bool inverse);

template <typename T>
void attention_forward(ThreadPool& pool, T* out, T* probs, const T* q, const T* k, const T* v,
                       const AttentionShape& s);
template <typename T>
void attention_backward(ThreadPool& pool, T* dq, T* dk, T* dv, const T* dout, const T* probs, const T* q, const T* k,
                        const T* v, const AttentionShape& s);
template <typename T>
void attention_decode(ThreadPool& pool, T* out, const T* q, const T* k_cache, const T* v_cache, int64_t length,
                      int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t sliding_window);

template <typename T>
void swiglu_forward(ThreadPool& pool, T* h, const T* gate, const T* up, int64_t n);
template <typename T>
void swiglu_backward(ThreadPool& pool, T* dgate, T* dup, const T* dh, const T* gate, const T* up, int64_t n);

template <typename T>
void cross_entropy_forward(ThreadPool& pool, T* nll, const T* logits, const int32_t* targets, int64_t n,
                           int64_t vocab);
template <typename T>
void cross_entropy_backward(ThreadPool& pool, T* dlogits, const T* logits, const int32_t* targets, int64_t n,
                            int64_t vocab, double scale);

template <typename T>
void add_inplace(ThreadPool& pool, T* y, const T* x, int64_t n);
template <typename T>
void scale_inplace(ThreadPool& pool, T* x, double factor, int64_t n);
template <typename T>
double sum_squares(ThreadPool& pool, const T* x, int64_t n);

template <typename T>
void adamw_step(ThreadPool& pool, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n,
                const AdamWParams& h);
template <typename T>
void sgd_step(ThreadPool& pool, T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdParams& h);

}  // namespace cpu
}  // namespace tunesmith
