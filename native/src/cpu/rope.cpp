// RoPE in the Hugging Face rotate_half convention: the pairs are (j, j + d/2) and
//   x'[j]       = x[j]·cos − x[j+d/2]·sin
//   x'[j+d/2]   = x[j+d/2]·cos + x[j]·sin
// with angle = position · inv_freq[j] formed in fp32 as HF does. The backward pass of a rotation
// is the rotation by the negative angle.
#include <cmath>
#include <vector>

#include "cpu/ops.h"

namespace tunesmith {
namespace cpu {

template <typename T>
void rope(ThreadPool& pool, T* x, const int32_t* positions, const float* inv_freq, int64_t n, int64_t heads,
          int64_t head_dim, bool inverse) {
  const int64_t half = head_dim / 2;
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    std::vector<T> cos_v(half), sin_v(half);
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t j = 0; j < half; ++j) {
        const float angle = float(positions[t]) * inv_freq[j];
        cos_v[j] = T(std::cos(double(angle)));
        sin_v[j] = T(std::sin(double(angle)));
        if (inverse) sin_v[j] = -sin_v[j];
      }
      for (int64_t h = 0; h < heads; ++h) {
        T* v = x + (t * heads + h) * head_dim;
        for (int64_t j = 0; j < half; ++j) {
          const T a = v[j], b = v[j + half];
          v[j] = a * cos_v[j] - b * sin_v[j];
          v[j + half] = b * cos_v[j] + a * sin_v[j];
        }
      }
    }
  });
}

template void rope<float>(ThreadPool&, float*, const int32_t*, const float*, int64_t, int64_t, int64_t, bool);
template void rope<double>(ThreadPool&, double*, const int32_t*, const float*, int64_t, int64_t, int64_t, bool);

}  // namespace cpu
}  // namespace tunesmith
