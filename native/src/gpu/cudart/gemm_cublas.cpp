// gemm() on the card through cuBLAS (cublasGemmEx, fp32 compute, default stream). cuBLAS is
// column-major: a row-major C[m, n] is a column-major Cᵀ[n, m] = op(B)ᵀ · op(A)ᵀ, so the operands
// are passed swapped, each with the transpose flag it already has.
#include <limits>
#include <string>

#include "core/error.h"
#include "gpu/cudart/cublas_library.h"
#include "gpu/gemm.h"

namespace tunesmith::gpu {

namespace {
int cuda_type(ElementType t) { return t == ElementType::BF16 ? kCudaR16BF : kCudaR32F; }

int checked_int(int64_t v, const char* what) {
  if (v < 0 || v > std::numeric_limits<int>::max())
    throw Error(std::string("matrix product: ") + what + " = " + std::to_string(v) + " is beyond cuBLAS's int range");
  return int(v);
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const void* a, const void* b,
          ElementType ab_type, float beta, void* c, ElementType c_type) {
  if (m == 0 || n == 0) return;
  const CublasLibrary& l = load_cublas();
  const int M = checked_int(m, "m"), N = checked_int(n, "n"), K = checked_int(k, "k");
  const int lda = trans_a ? M : K;
  const int ldb = trans_b ? K : N;
  const cublasStatus_t status =
      l.gemm_ex(cublas_handle(), trans_b ? kCublasOpT : kCublasOpN, trans_a ? kCublasOpT : kCublasOpN, N, M, K, &alpha,
                b, cuda_type(ab_type), ldb, a, cuda_type(ab_type), lda, &beta, c, cuda_type(c_type), N,
                kCublasCompute32F, kCublasGemmDefault);
  if (status != kCublasSuccess)
    throw Error("cublasGemmEx (" + std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) +
                ") failed: " + (l.status_name ? std::string(l.status_name(status)) : std::to_string(status)));
}

const char* gemm_provider() {
  static const std::string text = [] {
    const CublasLibrary& l = load_cublas();
    int version = 0;
    if (l.get_version) l.get_version(cublas_handle(), &version);
    return "cuBLAS " + std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." +
           std::to_string(version % 100) + " (" + l.path + ")";
  }();
  return text.c_str();
}

}  // namespace tunesmith::gpu
