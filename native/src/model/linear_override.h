// A hook that lets something outside the Transformer take over the decoder's Linear layers
// (q, k, v, o, gate, up, down): LoRA adds a low-rank update on top of a frozen base, QLoRA also
// stores that base as NF4. The Transformer keeps the rest of the graph (norms, rope, attention,
// residuals) and simply routes each overridden matmul through here, in forward, in the
// input-gradient path of backward and in KV-cache decoding.
#pragma once
#include <cstddef>
#include <cstdint>

#include "model/config.h"
#include "model/parameters.h"

namespace tunesmith {

enum class LinearSlot : int { Q = 0, K, V, O, Gate, Up, Down };
constexpr int kNumLinearSlots = 7;

// PEFT / Hugging Face module names: "q_proj", "gate_proj", ...
inline const char* linear_slot_name(LinearSlot slot) {
  static const char* const names[kNumLinearSlots] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                     "gate_proj", "up_proj", "down_proj"};
  return names[static_cast<int>(slot)];
}
// [in, out] of decoder Linear `slot` (its weight is [out, in]).
inline void linear_slot_shape(const LlamaConfig& c, LinearSlot slot, int64_t& in, int64_t& out) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  switch (slot) {
    case LinearSlot::Q: in = H, out = q_dim; return;
    case LinearSlot::K:
    case LinearSlot::V: in = H, out = kv_dim; return;
    case LinearSlot::O: in = q_dim, out = H; return;
    case LinearSlot::Gate:
    case LinearSlot::Up: in = H, out = I; return;
    case LinearSlot::Down: in = I, out = H; return;
  }
}

// Offset of decoder Linear `slot`'s weight in a layer's parameters (kNoParam once released).
inline size_t linear_slot_offset(const LayerParamOffsets& o, LinearSlot slot) {
  const size_t offsets[kNumLinearSlots] = {o.q, o.k, o.v, o.o, o.gate, o.up, o.down};
  return offsets[static_cast<int>(slot)];
}

// "self_attn" for q, k, v, o; "mlp" for gate, up, down (the parent module in HF tensor names).
inline const char* linear_slot_parent(LinearSlot slot) { return static_cast<int>(slot) < 4 ? "self_attn" : "mlp"; }

template <typename T>
class LinearOverride {
 public:
  virtual ~LinearOverride() = default;

  // True when (layer, slot) is computed here. Its base weight (and bias) are then treated as
  // frozen: the Transformer computes no weight gradient for them.
  virtual bool overrides(int64_t layer, LinearSlot slot) const = 0;

  // Called once at the start of every Transformer::forward and decode_step. Not called when the
  // Transformer recomputes a layer for activation checkpointing, so anything random in a training
  // forward (dropout) must be a pure function of what was known at begin_forward.
  virtual void begin_forward(bool for_training) = 0;

  // y[n, out] = x[n, in] · W_effᵀ + bias. `w` is the Transformer's fp32 base weight [out, in], or
  // null when the Transformer no longer stores it (QLoRA keeps it quantized instead).
  virtual void forward(int64_t layer, LinearSlot slot, T* y, const T* x, const T* w, const T* bias, int64_t n,
                       int64_t in, int64_t out) = 0;

  // dx[n, in] = (accumulate ? dx : 0) + dy · W_eff, and accumulates the override's own parameter
  // gradients. `x` is the same input forward saw (saved or recomputed by the Transformer).
  virtual void backward(int64_t layer, LinearSlot slot, T* dx, const T* dy, const T* x, const T* w, int64_t n,
                        int64_t in, int64_t out, bool accumulate) = 0;
};

}  // namespace tunesmith
