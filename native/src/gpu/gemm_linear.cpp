// The Linear-layer products expressed through gemm() (gpu/gemm.h).
#include "gpu/gemm.h"

namespace tunesmith::gpu {

void linear_forward(void* y, ElementType y_type, const void* x, const void* w, ElementType xw_type, int64_t n,
                    int64_t in, int64_t out, float beta) {
  gemm(false, true, n, out, in, 1.0f, x, w, xw_type, beta, y, y_type);
}

void linear_backward_input(void* dx, ElementType dx_type, const void* dy, const void* w, ElementType dyw_type,
                           int64_t n, int64_t in, int64_t out, float beta) {
  gemm(false, false, n, in, out, 1.0f, dy, w, dyw_type, beta, dx, dx_type);
}

void linear_backward_weight(void* dw, ElementType dw_type, const void* dy, const void* x, ElementType dyx_type,
                            int64_t n, int64_t in, int64_t out, float beta) {
  gemm(true, false, out, in, n, 1.0f, dy, x, dyx_type, beta, dw, dw_type);
}

}  // namespace tunesmith::gpu
