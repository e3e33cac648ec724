// The GPU engine's ops: host functions that launch kernels (gpu/kernels/*.cu) on device pointers,
// in the default stream. The CUDA counterpart of core/backend.h, with the engine's mixed precision:
//
//  - activations and base weights are bf16; every reduction and every accumulation is fp32;
//  - gradients flowing along the residual stream, and all parameter gradients, are fp32;
//  - "+=" ops accumulate (gradient accumulation is free), as on the CPU backend.
//
// Shapes follow core/backend.h: token-major [n_tokens, features], n_tokens = batch * seq, token
// t = b*seq + s; Linear weights [out, in] (the products themselves are in gpu/gemm.h).
// Every function here has a CPU-backend counterpart it is tested against (tests/gpu).
#pragma once
#include <cstdint>

#include "gpu/dialect.h"

namespace tunesmith::gpu {

// --- conversions and elementwise (kernels/elementwise.cu) ----------------------------------------
void convert_f32_to_bf16(bf16* dst, const float* src, int64_t n);  // round to nearest even
void convert_bf16_to_f32(float* dst, const bf16* src, int64_t n);
void add_bf16(bf16* y, const bf16* x, int64_t n);                   // y += x, fp32 math
void add_f32(float* y, const float* x, int64_t n);                  // y += x
void scale_f32(float* x, float factor, int64_t n);
// Σ x² in double on the host; a fixed two-level reduction, so the result is deterministic.
double sum_squares_f32(const float* x, int64_t n);

// Linear bias: y[n, out] += bias (forward); dbias[out] += Σ_t dy[t] (backward, deterministic).
void add_bias_bf16(bf16* y, const bf16* bias, int64_t n, int64_t out);
void bias_backward(float* dbias, const bf16* dy, int64_t n, int64_t out);

// --- embedding (kernels/embedding.cu) ---------------------------------------------------------
// out[t] = table[ids[t]] (+ perturb_scale · z(seed, offset + ids[t]*dim + j) when perturb_scale != 0:
// ZO's out-of-place perturbation, see kernels/perturb.cu). ids are checked by the caller.
void embedding_forward(bf16* out, const int32_t* ids, const bf16* table, int64_t n, int64_t dim,
                       float perturb_scale = 0.0f, uint64_t perturb_seed = 0, uint64_t perturb_offset = 0);
// dtable[ids[t]] += dout[t]; deterministic (no atomics: each thread owns a column and walks the tokens).
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t n, int64_t dim);

// --- RMSNorm: out = x · rsqrt(mean(x²) + eps) · w (kernels/rmsnorm.cu) --------------------------
void rmsnorm_forward(bf16* out, float* rstd, const bf16* x, const bf16* w, int64_t n, int64_t dim, float eps);
// dx[n, dim] += ∂/∂x (fp32); dw[dim] += ∂/∂w when dw is not null. dout is fp32.
void rmsnorm_backward(float* dx, float* dw, const float* dout, const bf16* x, const bf16* w, const float* rstd,
                      int64_t n, int64_t dim);

// --- RoPE, HF rotate_half pairs (j, j + hd/2) (kernels/rope.cu) ----------------------------------
// x[n, heads, hd] rotated in place by positions[t] · inv_freq[j]; inverse = the backward pass.
void rope(bf16* x, const int32_t* positions, const float* inv_freq, int64_t n, int64_t heads, int64_t head_dim,
          bool inverse);

// --- SwiGLU: h = silu(gate) ⊙ up (kernels/swiglu.cu) --------------------------------------------
void swiglu_forward(bf16* h, const bf16* gate, const bf16* up, int64_t n);
// dgate, dup are overwritten (bf16: they feed the matrix products).
void swiglu_backward(bf16* dgate, bf16* dup, const bf16* dh, const bf16* gate, const bf16* up, int64_t n);

// --- flash-style causal attention with GQA (kernels/attention.cu) -------------------------------
// q[n, heads*hd], k/v[n, kv_heads*hd] (bf16, rope already applied) -> out[n, heads*hd] bf16 and
// lse[batch, heads, seq] (fp32 log-sum-exp of the scaled scores, all backward needs). No [seq, seq]
// matrix is stored. sliding_window 0 = none, else key j visible from query i when i - j < window.
struct AttentionDims {
  int64_t batch = 1, seq = 1, heads = 1, kv_heads = 1, head_dim = 1, sliding_window = 0;
};
void attention_forward(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, const AttentionDims& d);
// dq, dk, dv are overwritten; deterministic (no atomics).
void attention_backward(bf16* dq, bf16* dk, bf16* dv, const bf16* dout, const bf16* out, const float* lse,
                        const bf16* q, const bf16* k, const bf16* v, const AttentionDims& d);
// Generation: one query token per head against a cache of `length` positions [length, kv_heads*hd].
void attention_decode(bf16* out, const bf16* q, const bf16* k_cache, const bf16* v_cache, int64_t length,
                      int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t sliding_window);

// --- cross-entropy on a chunk of rows (kernels/cross_entropy.cu) --------------------------------
// logits[rows, vocab] fp32; targets < 0 ignored. nll[row] = logsumexp - logit[target] (0 if ignored).
// When dlogits is not null it also writes (softmax - onehot(target)) · scale as bf16 (0 for ignored
// rows): the head's forward and backward in one pass, so all logits are never held at once.
void cross_entropy(float* nll, bf16* dlogits, const float* logits, const int32_t* targets, int64_t rows,
                   int64_t vocab, float scale);

// --- optimizers (kernels/optimizers.cu), PyTorch AdamW semantics --------------------------------
struct AdamWHyper {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  int64_t step = 1;       // 1-based, for bias correction
  float grad_scale = 1.0f;  // multiplies the gradient first (clipping's factor)
};
// fp32 parameters and states (LoRA adapters, norms of small models).
void adamw_f32(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWHyper& h);
// bf16 parameters, fp32 gradients, states in fp32 (m32/v32) or bf16 (m16/v16; pass the other pair
// null). The update is computed in fp32 and written back with stochastic rounding seeded by
// (rounding_seed, param_offset + i), so tiny updates survive on average.
void adamw_bf16(bf16* param, const float* grad, float* m32, float* v32, bf16* m16, bf16* v16, int64_t n,
                const AdamWHyper& h, uint64_t rounding_seed, uint64_t param_offset);

// --- random numbers and ZO (kernels/perturb.cu); z(seed, i) = philox_normal(seed, kStreamPerturbation, i)
// x[i] = bf16(std · N(0,1)) from (seed, kStreamInit, offset + i): random weights for benchmarks.
void init_normal_bf16(bf16* x, int64_t n, float std, uint64_t seed, uint64_t offset);
void fill_bf16(bf16* x, float value, int64_t n);
// dst[i] = bf16(src[i] + scale · z(seed, offset + i)): a perturbed copy, src untouched.
void perturbed_copy_bf16(bf16* dst, const bf16* src, int64_t n, float scale, uint64_t seed, uint64_t offset);
// param[i] -= coeff · z(seed, offset + i), fp32 math, stochastic rounding (rounding_seed).
void zo_update_bf16(bf16* param, int64_t n, float coeff, uint64_t seed, uint64_t offset, uint64_t rounding_seed);
// out[i] = keep ? x[i] / (1 - p) : 0 with keep decided by (seed, kStreamDropout, offset + i) > p.
void dropout_bf16(bf16* out, const bf16* x, int64_t n, float p, uint64_t seed, uint64_t offset);

// --- NF4 (kernels/nf4.cu), layout of quant/nf4.h (bitsandbytes) ---------------------------------
// out[numel] bf16 = NF4[code] · absmax, absmax = code8[absmax_codes[b]] · absmax2[b / 256 blocks] + offset.
// `code8` is the 256-entry signed dynamic map (device copy). blocksize: NF4 block (64),
// blocksize2: second-level block (256).
void nf4_dequantize_bf16(bf16* out, const uint8_t* packed, const uint8_t* absmax_codes, const float* absmax2,
                         const float* code8, float offset, int64_t numel, int64_t blocksize, int64_t blocksize2);

// Quantization on the card (QLoRA's base weights, without a host round trip): codes and fp32 block
// absmax exactly as quantize_nf4 (quant/nf4.cpp) computes them for the same values.
void nf4_quantize_bf16(uint8_t* packed, float* absmax, const bf16* x, int64_t numel, int64_t blocksize);
// Double quantization of the block absmax values (quantize_blockwise_8bit of absmax - mean):
// writes codes[nblocks] and absmax2[ceil(nblocks / blocksize2)], returns the offset (the mean,
// summed in a fixed order so it is deterministic). `code8` as above.
float nf4_double_quantize(uint8_t* absmax_codes, float* absmax2, const float* absmax, const float* code8,
                          int64_t nblocks, int64_t blocksize2);

}  // namespace tunesmith::gpu
