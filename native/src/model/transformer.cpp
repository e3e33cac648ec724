#include "model/transformer.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace tunesmith {

template <typename T>
void LayerActivations<T>::resize(const LlamaConfig& c, int64_t batch, int64_t seq) {
  const size_t n = size_t(batch * seq);
  const size_t H = size_t(c.hidden_size), I = size_t(c.intermediate_size);
  const size_t q_dim = size_t(c.num_heads * c.head_dim), kv_dim = size_t(c.num_kv_heads * c.head_dim);
  ln1.resize(n * H);
  rstd1.resize(n);
  q.resize(n * q_dim);
  k.resize(n * kv_dim);
  v.resize(n * kv_dim);
  probs.resize(size_t(batch * c.num_heads * seq * seq));
  att.resize(n * q_dim);
  mid.resize(n * H);
  ln2.resize(n * H);
  rstd2.resize(n);
  gate.resize(n * I);
  up.resize(n * I);
  h.resize(n * I);
}

template <typename T>
Transformer<T>::Transformer(const LlamaConfig& config, Backend<T>& backend)
    : config_(config), layout_(ParameterLayout::build(config)), backend_(backend), inv_freq_(rope_inv_freq(config)) {
  config_.validate("model config");
  params_.resize(layout_.total);
}

template <typename T>
T* Transformer<T>::g(size_t offset) {
  if (offset == kNoParam) return nullptr;
  if (routes_.empty()) return grads_.data() + offset;
  for (const GradientRoute& r : routes_)
    if (offset >= r.param_offset && offset < r.param_offset + r.count) return r.grad + (offset - r.param_offset);
  return nullptr;
}

template <typename T>
void Transformer<T>::check_tokens(const int32_t* tokens, int64_t n) const {
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size)
      throw Error("token id " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                  " is outside the vocabulary [0, " + std::to_string(config_.vocab_size) + ")");
}

template <typename T>
void Transformer<T>::layer_forward(int64_t layer, const T* x, T* y, LayerActivations<T>& a) {
  const LlamaConfig& c = config_;
  const LayerParamOffsets& o = layout_.layers[size_t(layer)];
  const int64_t n = batch_ * seq_, H = c.hidden_size, I = c.intermediate_size;
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  Backend<T>& b = backend_;

  b.rmsnorm_forward(a.ln1.data(), a.rstd1.data(), x, p(o.input_norm), n, H, c.rms_norm_eps);
  b.matmul_forward(a.q.data(), a.ln1.data(), p(o.q), p(o.q_bias), n, H, q_dim);
  b.matmul_forward(a.k.data(), a.ln1.data(), p(o.k), p(o.k_bias), n, H, kv_dim);
  b.matmul_forward(a.v.data(), a.ln1.data(), p(o.v), p(o.v_bias), n, H, kv_dim);
  b.rope(a.q.data(), positions_.data(), inv_freq_.data(), n, c.num_heads, c.head_dim, false);
  b.rope(a.k.data(), positions_.data(), inv_freq_.data(), n, c.num_kv_heads, c.head_dim, false);
  AttentionShape s{batch_, seq_, c.num_heads, c.num_kv_heads, c.head_dim, c.sliding_window};
  b.attention_forward(a.att.data(), a.probs.data(), a.q.data(), a.k.data(), a.v.data(), s);
  b.matmul_forward(a.mid.data(), a.att.data(), p(o.o), p(o.o_bias), n, q_dim, H);
  b.add_inplace(a.mid.data(), x, n * H);
  b.rmsnorm_forward(a.ln2.data(), a.rstd2.data(), a.mid.data(), p(o.post_norm), n, H, c.rms_norm_eps);
  b.matmul_forward(a.gate.data(), a.ln2.data(), p(o.gate), nullptr, n, H, I);
  b.matmul_forward(a.up.data(), a.ln2.data(), p(o.up), nullptr, n, H, I);
  b.swiglu_forward(a.h.data(), a.gate.data(), a.up.data(), n * I);
  b.matmul_forward(y, a.h.data(), p(o.down), nullptr, n, I, H);
  b.add_inplace(y, a.mid.data(), n * H);
}

template <typename T>
void Transformer<T>::layer_backward(int64_t layer, const T* x, const T* dy, T* dx, LayerActivations<T>& a) {
  const LlamaConfig& c = config_;
  const LayerParamOffsets& o = layout_.layers[size_t(layer)];
  const int64_t n = batch_ * seq_, H = c.hidden_size, I = c.intermediate_size;
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  Backend<T>& b = backend_;

  // MLP: y = m + h·Wdᵀ
  if (T* dw = g(o.down)) b.matmul_backward_weight(dw, nullptr, dy, a.h.data(), n, I, H);
  b.matmul_backward_input(dh_.data(), dy, p(o.down), n, I, H, false);
  b.swiglu_backward(dgate_.data(), dup_.data(), dh_.data(), a.gate.data(), a.up.data(), n * I);
  if (T* dw = g(o.gate)) b.matmul_backward_weight(dw, nullptr, dgate_.data(), a.ln2.data(), n, H, I);
  if (T* dw = g(o.up)) b.matmul_backward_weight(dw, nullptr, dup_.data(), a.ln2.data(), n, H, I);
  b.matmul_backward_input(dln_.data(), dgate_.data(), p(o.gate), n, H, I, false);
  b.matmul_backward_input(dln_.data(), dup_.data(), p(o.up), n, H, I, true);
  std::memcpy(dmid_.data(), dy, size_t(n * H) * sizeof(T));  // residual path
  b.rmsnorm_backward(dmid_.data(), g(o.post_norm), dln_.data(), a.mid.data(), p(o.post_norm), a.rstd2.data(), n, H);

  // Attention: m = x + att·Woᵀ (+bo)
  if (T* dw = g(o.o)) b.matmul_backward_weight(dw, g(o.o_bias), dmid_.data(), a.att.data(), n, q_dim, H);
  b.matmul_backward_input(datt_.data(), dmid_.data(), p(o.o), n, q_dim, H, false);
  AttentionShape s{batch_, seq_, c.num_heads, c.num_kv_heads, c.head_dim, c.sliding_window};
  b.attention_backward(dq_.data(), dk_.data(), dv_.data(), datt_.data(), a.probs.data(), a.q.data(), a.k.data(),
                       a.v.data(), s);
  b.rope(dq_.data(), positions_.data(), inv_freq_.data(), n, c.num_heads, c.head_dim, true);
  b.rope(dk_.data(), positions_.data(), inv_freq_.data(), n, c.num_kv_heads, c.head_dim, true);
  if (T* dw = g(o.q)) b.matmul_backward_weight(dw, g(o.q_bias), dq_.data(), a.ln1.data(), n, H, q_dim);
  if (T* dw = g(o.k)) b.matmul_backward_weight(dw, g(o.k_bias), dk_.data(), a.ln1.data(), n, H, kv_dim);
  if (T* dw = g(o.v)) b.matmul_backward_weight(dw, g(o.v_bias), dv_.data(), a.ln1.data(), n, H, kv_dim);
  b.matmul_backward_input(dln_.data(), dq_.data(), p(o.q), n, H, q_dim, false);
  b.matmul_backward_input(dln_.data(), dk_.data(), p(o.k), n, H, kv_dim, true);
  b.matmul_backward_input(dln_.data(), dv_.data(), p(o.v), n, H, kv_dim, true);
  std::memcpy(dx, dmid_.data(), size_t(n * H) * sizeof(T));  // residual path
  b.rmsnorm_backward(dx, g(o.input_norm), dln_.data(), x, p(o.input_norm), a.rstd1.data(), n, H);
}

template <typename T>
double Transformer<T>::forward(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq,
                               bool for_training) {
  const LlamaConfig& c = config_;
  if (batch <= 0 || seq <= 0) throw Error("forward: batch and seq must be positive");
  const int64_t n = batch * seq, H = c.hidden_size, V = c.vocab_size;
  check_tokens(tokens, n);
  if (targets)
    for (int64_t i = 0; i < n; ++i)
      if (targets[i] >= V)
        throw Error("target id " + std::to_string(targets[i]) + " at position " + std::to_string(i) +
                    " is outside the vocabulary");
  batch_ = batch;
  seq_ = seq;
  tokens_.assign(tokens, tokens + n);
  targets_.assign(n, -1);
  if (targets) targets_.assign(targets, targets + n);
  positions_.resize(size_t(n));
  for (int64_t t = 0; t < n; ++t) positions_[size_t(t)] = int32_t(t % seq);

  // Stored path: one activation set per layer. Checkpointing or inference: one shared set.
  const bool keep_all = for_training && !checkpointing_;
  acts_.resize(keep_all ? size_t(c.num_layers) : 1);
  for (auto& a : acts_) a.resize(c, batch, seq);
  layer_inputs_.resize(size_t(c.num_layers + 1));
  for (auto& li : layer_inputs_) li.resize(size_t(n * H));
  final_norm_.resize(size_t(n * H));
  final_rstd_.resize(size_t(n));
  logits_.resize(size_t(n * V));
  nll_.resize(size_t(n));

  Backend<T>& b = backend_;
  b.embedding_forward(layer_inputs_[0].data(), tokens_.data(), p(layout_.embed), n, H);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    LayerActivations<T>& a = acts_[keep_all ? size_t(l) : 0];
    layer_forward(l, layer_inputs_[size_t(l)].data(), layer_inputs_[size_t(l + 1)].data(), a);
  }
  b.rmsnorm_forward(final_norm_.data(), final_rstd_.data(), layer_inputs_[size_t(c.num_layers)].data(),
                    p(layout_.final_norm), n, H, c.rms_norm_eps);
  b.matmul_forward(logits_.data(), final_norm_.data(), p(layout_.lm_head), nullptr, n, H, V);
  b.cross_entropy_forward(nll_.data(), logits_.data(), targets_.data(), n, V);
  targeted_ = 0;
  double total = 0.0;
  for (int64_t t = 0; t < n; ++t) {
    if (targets_[size_t(t)] < 0) continue;
    ++targeted_;
    total += double(nll_[size_t(t)]);
  }
  for_training_ready_ = for_training;
  return targeted_ > 0 ? total / double(targeted_) : 0.0;
}

template <typename T>
void Transformer<T>::backward(double grad_scale) {
  if (!for_training_ready_) throw Error("backward() needs a preceding forward(..., for_training=true)");
  for_training_ready_ = false;
  if (routes_.empty()) ensure_grads();
  const LlamaConfig& c = config_;
  const int64_t n = batch_ * seq_, H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  for (auto* buf : {&dx_a_, &dx_b_, &dmid_, &dln_}) buf->resize(size_t(n * H));
  datt_.resize(size_t(n * q_dim));
  dq_.resize(size_t(n * q_dim));
  dk_.resize(size_t(n * kv_dim));
  dv_.resize(size_t(n * kv_dim));
  for (auto* buf : {&dh_, &dgate_, &dup_}) buf->resize(size_t(n * I));
  Backend<T>& b = backend_;
  if (targeted_ == 0) return;  // no loss, no gradient

  // Head: logits buffer becomes dlogits.
  b.cross_entropy_backward(logits_.data(), logits_.data(), targets_.data(), n, V, grad_scale / double(targeted_));
  if (T* dw = g(layout_.lm_head)) b.matmul_backward_weight(dw, nullptr, logits_.data(), final_norm_.data(), n, H, V);
  b.matmul_backward_input(dln_.data(), logits_.data(), p(layout_.lm_head), n, H, V, false);
  T* dx = dx_a_.data();
  T* dx_next = dx_b_.data();
  std::fill(dx, dx + n * H, T(0));
  b.rmsnorm_backward(dx, g(layout_.final_norm), dln_.data(), layer_inputs_[size_t(c.num_layers)].data(),
                     p(layout_.final_norm), final_rstd_.data(), n, H);

  const bool stored = acts_.size() == size_t(c.num_layers) && !checkpointing_;
  if (!stored) recompute_out_.resize(size_t(n * H));
  for (int64_t l = c.num_layers - 1; l >= 0; --l) {
    LayerActivations<T>& a = acts_[stored ? size_t(l) : 0];
    if (!stored) layer_forward(l, layer_inputs_[size_t(l)].data(), recompute_out_.data(), a);
    layer_backward(l, layer_inputs_[size_t(l)].data(), dx, dx_next, a);
    std::swap(dx, dx_next);
  }
  if (T* dtable = g(layout_.embed)) b.embedding_backward(dtable, dx, tokens_.data(), n, H);
}

template <typename T>
void Transformer<T>::init_cache(KvCache<T>& cache, int64_t capacity) const {
  const int64_t kv_dim = config_.num_kv_heads * config_.head_dim;
  cache.keys.resize(size_t(config_.num_layers));
  cache.values.resize(size_t(config_.num_layers));
  for (auto& k : cache.keys) k.resize(size_t(capacity * kv_dim));
  for (auto& v : cache.values) v.resize(size_t(capacity * kv_dim));
  cache.capacity = capacity;
  cache.length = 0;
}

template <typename T>
const T* Transformer<T>::decode_step(int32_t token, KvCache<T>& cache) {
  const LlamaConfig& c = config_;
  check_tokens(&token, 1);
  if (cache.length >= cache.capacity)
    throw Error("generation exceeded the KV cache capacity of " + std::to_string(cache.capacity) + " tokens");
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  const int32_t position = int32_t(cache.length);
  Backend<T>& b = backend_;

  std::vector<T> x(static_cast<size_t>(H)), ln(static_cast<size_t>(H)), q(static_cast<size_t>(q_dim)), att(static_cast<size_t>(q_dim)), mid(static_cast<size_t>(H));
  std::vector<T> gate(static_cast<size_t>(I)), up(static_cast<size_t>(I)), h(static_cast<size_t>(I));
  T rstd;
  b.embedding_forward(x.data(), &token, p(layout_.embed), 1, H);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LayerParamOffsets& o = layout_.layers[size_t(l)];
    T* k_row = cache.keys[size_t(l)].data() + cache.length * kv_dim;
    T* v_row = cache.values[size_t(l)].data() + cache.length * kv_dim;
    b.rmsnorm_forward(ln.data(), &rstd, x.data(), p(o.input_norm), 1, H, c.rms_norm_eps);
    b.matmul_forward(q.data(), ln.data(), p(o.q), p(o.q_bias), 1, H, q_dim);
    b.matmul_forward(k_row, ln.data(), p(o.k), p(o.k_bias), 1, H, kv_dim);
    b.matmul_forward(v_row, ln.data(), p(o.v), p(o.v_bias), 1, H, kv_dim);
    b.rope(q.data(), &position, inv_freq_.data(), 1, c.num_heads, c.head_dim, false);
    b.rope(k_row, &position, inv_freq_.data(), 1, c.num_kv_heads, c.head_dim, false);
    b.attention_decode(att.data(), q.data(), cache.keys[size_t(l)].data(), cache.values[size_t(l)].data(),
                       cache.length + 1, c.num_heads, c.num_kv_heads, c.head_dim, c.sliding_window);
    b.matmul_forward(mid.data(), att.data(), p(o.o), p(o.o_bias), 1, q_dim, H);
    b.add_inplace(mid.data(), x.data(), H);
    b.rmsnorm_forward(ln.data(), &rstd, mid.data(), p(o.post_norm), 1, H, c.rms_norm_eps);
    b.matmul_forward(gate.data(), ln.data(), p(o.gate), nullptr, 1, H, I);
    b.matmul_forward(up.data(), ln.data(), p(o.up), nullptr, 1, H, I);
    b.swiglu_forward(h.data(), gate.data(), up.data(), I);
    b.matmul_forward(x.data(), h.data(), p(o.down), nullptr, 1, I, H);
    b.add_inplace(x.data(), mid.data(), H);
  }
  b.rmsnorm_forward(ln.data(), &rstd, x.data(), p(layout_.final_norm), 1, H, c.rms_norm_eps);
  logits_.resize(size_t(std::max<int64_t>(V, int64_t(logits_.size()))));
  b.matmul_forward(logits_.data(), ln.data(), p(layout_.lm_head), nullptr, 1, H, V);
  ++cache.length;
  for_training_ready_ = false;
  return logits_.data();
}

template struct LayerActivations<float>;
template struct LayerActivations<double>;
template class Transformer<float>;
template class Transformer<double>;

}  // namespace tunesmith
