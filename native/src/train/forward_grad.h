// Forward-mode differentiation of the training loss: one forward pass that carries, next to every
// activation, its tangent (derivative along a parameter direction v). The result is the loss and
// the exact directional derivative ⟨∇L(θ), v⟩ (a JVP) with no backward pass and no stored
// activations beyond the current layer — what ZO-Bench's Forward-Grad gets from torch.func.jvp.
//
// Tangent rules, per op (d· is the tangent):
//   linear    y = x·Wᵀ + b          dy = dx·Wᵀ + x·dWᵀ + db
//   rmsnorm   y = x·r·w, r = (mean x² + eps)^-½      dy = (dx·r + x·dr)·w + x·r·dw, dr = −r³·mean(x·dx)
//   rope      linear in its input   d(rope x) = rope(dx)
//   attention s = q·kᵀ/√d, p = softmax(s), o = Σ p·v   ds = (dq·kᵀ + q·dkᵀ)/√d,
//             dp = p ⊙ (ds − Σ p·ds),  do = Σ dp·v + p·dv
//   swiglu    h = silu(g)·u         dh = silu'(g)·dg·u + silu(g)·du, silu' = σ(1 + g(1 − σ))
//   loss      nll = lse(z) − z_t    dnll = Σ softmax(z)·dz − dz_t, averaged like the loss
#pragma once
#include <cstdint>

#include "model/transformer.h"

namespace tunesmith {

struct JvpResult {
  double loss = 0.0;                    // mean masked loss, as Transformer::forward returns it
  double directional_derivative = 0.0;  // ⟨∇loss, tangent⟩
};

// tangent: one value per model parameter, in the model's flat parameter layout.
template <typename T>
JvpResult loss_jvp(Transformer<T>& model, const T* tangent, const int32_t* tokens, const int32_t* targets,
                   int64_t batch, int64_t seq);

}  // namespace tunesmith
