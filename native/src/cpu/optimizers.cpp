// Optimizer updates with PyTorch's exact semantics (torch.optim.AdamW / SGD, single-tensor path).
#include <cmath>

#include "cpu/ops.h"

namespace tunesmith {
namespace cpu {

// AdamW: p ← p·(1 − lr·wd); m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²;
// p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + eps).
template <typename T>
void adamw_step(ThreadPool& pool, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n,
                const AdamWParams& h) {
  const double bias1 = 1.0 - std::pow(h.beta1, double(h.step));
  const double bias2 = 1.0 - std::pow(h.beta2, double(h.step));
  const T step_size = T(h.lr / bias1);
  const T bias2_sqrt = T(std::sqrt(bias2));
  const T decay = T(1.0 - h.lr * h.weight_decay);
  const T b1 = T(h.beta1), b2 = T(h.beta2), eps = T(h.eps);
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T g = grad[i];
      T p = param[i] * decay;
      exp_avg[i] = exp_avg[i] * b1 + (T(1) - b1) * g;
      exp_avg_sq[i] = exp_avg_sq[i] * b2 + (T(1) - b2) * g * g;
      const T denom = std::sqrt(exp_avg_sq[i]) / bias2_sqrt + eps;
      p -= step_size * (exp_avg[i] / denom);
      param[i] = p;
    }
  });
}

// SGD: g ← g + wd·p; buf ← g (first step) or μ·buf + (1−dampening)·g; g ← g + μ·buf (nesterov)
// or buf; p ← p − lr·g.
template <typename T>
void sgd_step(ThreadPool& pool, T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdParams& h) {
  const T lr = T(h.lr), wd = T(h.weight_decay), mu = T(h.momentum), damp = T(1.0 - h.dampening);
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T g = grad[i];
      if (h.weight_decay != 0.0) g += wd * param[i];
      if (h.momentum != 0.0) {
        T& buf = momentum_buffer[i];
        buf = h.first_step ? g : mu * buf + damp * g;
        g = h.nesterov ? g + mu * buf : buf;
      }
      param[i] -= lr * g;
    }
  });
}

template void adamw_step<float>(ThreadPool&, float*, const float*, float*, float*, int64_t, const AdamWParams&);
template void adamw_step<double>(ThreadPool&, double*, const double*, double*, double*, int64_t, const AdamWParams&);
template void sgd_step<float>(ThreadPool&, float*, const float*, float*, int64_t, const SgdParams&);
template void sgd_step<double>(ThreadPool&, double*, const double*, double*, int64_t, const SgdParams&);

}  // namespace cpu
}  // namespace tunesmith
