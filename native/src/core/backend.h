// The backend interface: the fixed set of ops the Llama model and its training loop need. The CPU
// reference backend (cpu/cpu_backend.h) implements it in fp32 (and fp64 for gradient tests); a
// CUDA backend implements the same contract with device pointers.
//
// Conventions, shared by every implementation:
//  - All buffers are contiguous row-major. Linear weights are [out, in] as in Hugging Face, so a
//    linear layer is y = x·Wᵀ (+ b).
//  - Token-major activations: [n_tokens, features], n_tokens = batch * seq, token t = b*seq + s.
//  - "backward" ops ACCUMULATE into parameter gradients (dW, db, dw, dtable) so gradient
//    accumulation over micro-batches is free; activation gradients are documented per op.
//  - Results are deterministic for a given thread count: no op splits a reduction across threads
//    in a data-dependent way, so recomputation (activation checkpointing) is bit-identical.
#pragma once
#include <cstdint>

namespace tunesmith {

struct AttentionShape {
  int64_t batch = 1;
  int64_t seq = 1;
  int64_t heads = 1;
  int64_t kv_heads = 1;  // GQA: query head h reads kv head h / (heads / kv_heads), as HF repeat_kv
  int64_t head_dim = 1;
  int64_t sliding_window = 0;  // 0 = none; else key j is visible from query i when i - j < window
};

struct AdamWParams {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  int64_t step = 1;  // 1-based step number, for bias correction
};

struct SgdParams {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool first_step = true;  // PyTorch initialises the momentum buffer with the first gradient
};

template <typename T>
class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // --- linear layers ---------------------------------------------------------------------------
  // y[n, out] = x[n, in] · W[out, in]ᵀ + bias[out] (bias may be null).
  virtual void matmul_forward(T* y, const T* x, const T* w, const T* bias, int64_t n, int64_t in, int64_t out) = 0;
  // dx[n, in] = (accumulate ? dx : 0) + dy[n, out] · W[out, in].
  virtual void matmul_backward_input(T* dx, const T* dy, const T* w, int64_t n, int64_t in, int64_t out,
                                     bool accumulate) = 0;
  // dW[out, in] += dyᵀ · x;  dbias[out] += Σ_n dy (dbias may be null).
  virtual void matmul_backward_weight(T* dw, T* dbias, const T* dy, const T* x, int64_t n, int64_t in,
                                      int64_t out) = 0;

  // --- embedding -------------------------------------------------------------------------------
  // out[n, dim] = table[ids[n]]; ids must be in [0, vocab) (checked by the caller, see model).
  virtual void embedding_forward(T* out, const int32_t* ids, const T* table, int64_t n, int64_t dim) = 0;
  // dtable[ids[n]] += dout[n].
  virtual void embedding_backward(T* dtable, const T* dout, const int32_t* ids, int64_t n, int64_t dim) = 0;

  // --- RMSNorm: out = (x · rsqrt(mean(x²) + eps)) · w ------------------------------------------
  // rstd[n] is saved for the backward pass.
  virtual void rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, int64_t n, int64_t dim, double eps) = 0;
  // dx[n, dim] += ∂/∂x;  dw[dim] += ∂/∂w (dw may be null: a frozen weight, no weight gradient).
  virtual void rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int64_t n,
                                int64_t dim) = 0;

  // --- RoPE, Hugging Face rotate_half convention (pairs j, j + head_dim/2) ---------------------
  // x[n, heads, head_dim] rotated in place by angle positions[n] * inv_freq[j]. inverse = true
  // rotates by the negative angle, which is exactly the backward pass (rotation is orthogonal).
  virtual void rope(T* x, const int32_t* positions, const float* inv_freq, int64_t n, int64_t heads,
                    int64_t head_dim, bool inverse) = 0;

  // --- causal self-attention with GQA, softmax(q·kᵀ/√d) in full precision ----------------------
  // q[n, heads*hd], k/v[n, kv_heads*hd] -> out[n, heads*hd]; probs[batch, heads, seq, seq] saved.
  virtual void attention_forward(T* out, T* probs, const T* q, const T* k, const T* v, const AttentionShape& s) = 0;
  // dq, dk, dv are overwritten.
  virtual void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* probs, const T* q, const T* k,
                                  const T* v, const AttentionShape& s) = 0;
  // One new query per head against a KV cache of `length` positions (generation).
  // q[heads*hd], k_cache/v_cache[length, kv_heads*hd] -> out[heads*hd].
  virtual void attention_decode(T* out, const T* q, const T* k_cache, const T* v_cache, int64_t length,
                                int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t sliding_window) = 0;

  // --- SwiGLU: h = silu(gate) ⊙ up -------------------------------------------------------------
  virtual void swiglu_forward(T* h, const T* gate, const T* up, int64_t n) = 0;
  // dgate, dup are overwritten.
  virtual void swiglu_backward(T* dgate, T* dup, const T* dh, const T* gate, const T* up, int64_t n) = 0;

  // --- cross-entropy over logits[n, vocab]; targets < 0 are ignored (loss mask) -----------------
  // nll[n] = logsumexp(logits[n]) - logits[n, target] (0 for ignored rows).
  virtual void cross_entropy_forward(T* nll, const T* logits, const int32_t* targets, int64_t n, int64_t vocab) = 0;
  // dlogits[n] = (softmax(logits[n]) - onehot(target)) * scale; 0 for ignored rows. dlogits may
  // alias logits (computed in place, which saves a [n, vocab] buffer).
  virtual void cross_entropy_backward(T* dlogits, const T* logits, const int32_t* targets, int64_t n,
                                      int64_t vocab, double scale) = 0;

  // --- elementwise and reductions --------------------------------------------------------------
  virtual void add_inplace(T* y, const T* x, int64_t n) = 0;  // y += x
  virtual void scale_inplace(T* x, double factor, int64_t n) = 0;
  // Σ x² in double, with a fixed chunking so the result does not depend on the thread count.
  virtual double sum_squares(const T* x, int64_t n) = 0;

  // --- optimizers (PyTorch semantics) ----------------------------------------------------------
  virtual void adamw_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, const AdamWParams& h) = 0;
  virtual void sgd_step(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdParams& h) = 0;
};

}  // namespace tunesmith
