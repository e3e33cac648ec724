// The Llama decoder stack, forward and backward written out op by op on a Backend<T> (no
// autograd). T is float in the engine and double in the gradient tests.
//
// Layer l:  a = rmsnorm(x)·w_in;  q,k,v = a·W{q,k,v}ᵀ (+b);  rope(q, k);  att = attn(q, k, v)
//           m = x + att·Woᵀ (+bo);  c = rmsnorm(m)·w_post;  y = m + down(silu(c·Wgᵀ) ⊙ c·Wuᵀ)
// Head:     logits = rmsnorm(x_L)·w_norm·Wlmᵀ (Wlm = embedding when tied);
// Loss:     mean over tokens with target >= 0 of -log softmax(logits)[target].
//
// Activation checkpointing keeps only each layer's input during forward and recomputes the
// layer's internals in backward; because every op is deterministic the recomputed activations,
// and so the gradients, are bit-identical to the stored path.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/backend.h"
#include "core/memory.h"
#include "model/config.h"
#include "model/parameters.h"

namespace tunesmith {

template <typename T>
struct LayerActivations {
  TrackedBuffer<T> ln1, rstd1, q, k, v, probs, att, mid, ln2, rstd2, gate, up, h;
  void resize(const LlamaConfig& c, int64_t batch, int64_t seq);
};

// Per-layer key/value cache for generation: [max_len, kv_heads*head_dim] per layer.
template <typename T>
struct KvCache {
  std::vector<TrackedBuffer<T>> keys, values;
  int64_t capacity = 0;
  int64_t length = 0;  // tokens already in the cache
};

template <typename T>
class Transformer {
 public:
  Transformer(const LlamaConfig& config, Backend<T>& backend);

  const LlamaConfig& config() const { return config_; }
  const ParameterLayout& layout() const { return layout_; }
  T* params() { return params_.data(); }
  const T* params() const { return params_.data(); }
  T* grads() { return grads_.data(); }

  // Gradient routing, for trainers that train only part of the model (LISA). By default every
  // parameter's weight gradient lands in the flat grads() buffer at its own offset. With routes
  // installed, a parameter inside [param_offset, param_offset + count) gets its gradient in that
  // route's `grad` storage, and a parameter outside every route is frozen: backward computes no
  // weight gradient for it (input gradients still flow through it) and grads() is never allocated.
  struct GradientRoute {
    size_t param_offset = 0;
    size_t count = 0;
    T* grad = nullptr;
  };
  void set_gradient_routes(std::vector<GradientRoute> routes) { routes_ = std::move(routes); }
  void clear_gradient_routes() { routes_.clear(); }
  size_t num_params() const { return layout_.total; }
  Backend<T>& backend() { return backend_; }

  void set_checkpointing(bool on) { checkpointing_ = on; }
  bool checkpointing() const { return checkpointing_; }
  void zero_grads() { grads_.zero(); }
  // Gradients are allocated on first use so an inference-only model does not pay for them.
  void ensure_grads() {
    if (grads_.size() != layout_.total) grads_.resize(layout_.total);
  }

  // tokens[batch*seq] (ids checked against the vocab), targets[batch*seq] (< 0 = no loss).
  // Returns the mean loss over targeted tokens (0 when there are none) and keeps what backward
  // needs when `for_training`. logits() then holds [batch*seq, vocab].
  double forward(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq, bool for_training);
  const T* logits() const { return logits_.data(); }
  const T* token_nll() const { return nll_.data(); }
  int64_t targeted_tokens() const { return targeted_; }

  // Accumulates d(loss · grad_scale)/dθ into grads(). Must follow forward(..., true). The
  // logits buffer is reused for its gradient, so logits() is invalid afterwards.
  void backward(double grad_scale);

  // Generation: append one token at `cache.length`, return logits [vocab] (valid until next call).
  void init_cache(KvCache<T>& cache, int64_t capacity) const;
  const T* decode_step(int32_t token, KvCache<T>& cache);

 private:
  void check_tokens(const int32_t* tokens, int64_t n) const;
  void layer_forward(int64_t layer, const T* x, T* y, LayerActivations<T>& acts);
  void layer_backward(int64_t layer, const T* x, const T* dy, T* dx, LayerActivations<T>& acts);
  const T* p(size_t offset) const { return offset == kNoParam ? nullptr : params_.data() + offset; }
  T* g(size_t offset);  // gradient storage of the parameter at `offset`; null when frozen

  LlamaConfig config_;
  ParameterLayout layout_;
  Backend<T>& backend_;
  std::vector<float> inv_freq_;
  TrackedBuffer<T> params_;
  TrackedBuffer<T> grads_;
  std::vector<GradientRoute> routes_;  // empty: every parameter trains into grads_
  bool checkpointing_ = false;
  bool for_training_ready_ = false;

  // Activations for the current batch.
  int64_t batch_ = 0, seq_ = 0, targeted_ = 0;
  std::vector<int32_t> tokens_, targets_, positions_;
  std::vector<TrackedBuffer<T>> layer_inputs_;  // num_layers + 1 entries, [n, hidden]
  std::vector<LayerActivations<T>> acts_;       // one per layer, or one shared (checkpointing)
  TrackedBuffer<T> final_norm_, final_rstd_, logits_, nll_;
  // Backward scratch.
  TrackedBuffer<T> dx_a_, dx_b_, dmid_, dln_, datt_, dq_, dk_, dv_, dh_, dgate_, dup_, recompute_out_;
};

}  // namespace tunesmith
