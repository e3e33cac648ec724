// Matrix products for the GPU engine: cuBLAS on the card (loaded at run time, see
// cudart/cublas_library.h), a plain loop in the emulator. Everything is row-major, as in the rest
// of the engine; operands are bf16 or fp32, accumulation is always fp32.
#pragma once
#include <cstdint>

namespace tunesmith::gpu {

enum class ElementType { BF16, F32 };

// C[m, n] = alpha · op(A) · op(B) + beta · C.
//   op(A) is [m, k]: A is stored [m, k], or [k, m] when trans_a.
//   op(B) is [k, n]: B is stored [k, n], or [n, k] when trans_b.
// A and B share `ab_type`; C has `c_type`. beta = 0 ignores C's old contents (NaN included).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const void* a, const void* b,
          ElementType ab_type, float beta, void* c, ElementType c_type);

// The three products of a Linear layer (weights [out, in], activations [tokens, features]):
// y[n, out] = x · Wᵀ (+ beta·y)
void linear_forward(void* y, ElementType y_type, const void* x, const void* w, ElementType xw_type, int64_t n,
                    int64_t in, int64_t out, float beta = 0.0f);
// dx[n, in] = dy · W (+ beta·dx)
void linear_backward_input(void* dx, ElementType dx_type, const void* dy, const void* w, ElementType dyw_type,
                           int64_t n, int64_t in, int64_t out, float beta = 0.0f);
// dW[out, in] = dyᵀ · x (+ beta·dW); beta = 1 accumulates (gradient accumulation).
void linear_backward_weight(void* dw, ElementType dw_type, const void* dy, const void* x, ElementType dyx_type,
                            int64_t n, int64_t in, int64_t out, float beta = 1.0f);

// What performs the products: "cuBLAS 13.0.2 (/path/libcublas.so.13)" or "emulator".
const char* gemm_provider();

}  // namespace tunesmith::gpu
