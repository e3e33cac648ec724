#include <cstring>

#include "cpu/ops.h"

namespace tunesmith {
namespace cpu {

template <typename T>
void embedding_forward(ThreadPool& pool, T* out, const int32_t* ids, const T* table, int64_t n, int64_t dim) {
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) std::memcpy(out + t * dim, table + int64_t(ids[t]) * dim, dim * sizeof(T));
  });
}

// Threads split the feature columns, not the tokens: two tokens with the same id would otherwise
// race on the same table row, and this keeps the per-element summation order fixed.
template <typename T>
void embedding_backward(ThreadPool& pool, T* dtable, const T* dout, const int32_t* ids, int64_t n, int64_t dim) {
  pool.parallel_for(dim, [&](int64_t begin, int64_t end) {
    for (int64_t t = 0; t < n; ++t) {
      T* row = dtable + int64_t(ids[t]) * dim;
      const T* g = dout + t * dim;
      for (int64_t j = begin; j < end; ++j) row[j] += g[j];
    }
  });
}

template void embedding_forward<float>(ThreadPool&, float*, const int32_t*, const float*, int64_t, int64_t);
template void embedding_forward<double>(ThreadPool&, double*, const int32_t*, const double*, int64_t, int64_t);
template void embedding_backward<float>(ThreadPool&, float*, const float*, const int32_t*, int64_t, int64_t);
template void embedding_backward<double>(ThreadPool&, double*, const double*, const int32_t*, int64_t, int64_t);

}  // namespace cpu
}  // namespace tunesmith
