// gemm() for the emulator: a direct loop with fp32 accumulation and bf16 rounding to nearest even
// on store, which is what cuBLAS's bf16 products with CUBLAS_COMPUTE_32F compute (up to the order
// of the fp32 sums).
#include <algorithm>
#include <vector>

#include "gpu/dialect.h"
#include "gpu/gemm.h"

namespace tunesmith::gpu {

namespace {
float load(const void* p, ElementType type, int64_t i) {
  return type == ElementType::BF16 ? bf16_to_float(static_cast<const bf16*>(p)[i]) : static_cast<const float*>(p)[i];
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const void* a, const void* b,
          ElementType ab_type, float beta, void* c, ElementType c_type) {
  std::vector<float> acc(static_cast<size_t>(n));
  for (int64_t i = 0; i < m; ++i) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t p = 0; p < k; ++p) {
      const float av = load(a, ab_type, trans_a ? p * m + i : i * k + p);
      for (int64_t j = 0; j < n; ++j) acc[size_t(j)] += av * load(b, ab_type, trans_b ? j * k + p : p * n + j);
    }
    for (int64_t j = 0; j < n; ++j) {
      float v = alpha * acc[size_t(j)];
      if (beta != 0.0f) v += beta * load(c, c_type, i * n + j);
      if (c_type == ElementType::BF16)
        static_cast<bf16*>(c)[i * n + j] = float_to_bf16(v);
      else
        static_cast<float*>(c)[i * n + j] = v;
    }
  }
}

const char* gemm_provider() { return "emulator"; }

}  // namespace tunesmith::gpu
