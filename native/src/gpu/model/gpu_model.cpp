// GpuModel: model/transformer.cpp op by op on the GPU ops (gpu/ops.h, gpu/gemm.h), bf16
// parameters and activations, fp32 norm statistics, residual-stream gradients and parameter
// gradients. Host code only: every device op is a call into ops.h / gemm.h.
//
// Device memory inventory (n = batch·seq tokens, H hidden, I intermediate, V vocab, L layers,
// q_dim = heads·head_dim, kv_dim = kv_heads·head_dim, c = min(ce_chunk_tokens, n)). This is the
// whole list, and what the memory estimator models; keep the two in step:
//   parameters      bf16 [layout.total]                              (always)
//   gradients       fp32, one buffer per trainable range              (set_trainable)
//   rope inv_freq   fp32 [head_dim/2]                                 (always)
//   tokens, targets, positions   int32 [n] each                       (per shape)
//   layer inputs    bf16 [n, H] × (L + 1) when training; × 2 (ping-pong) for forward-only passes
//   activation set  ln1, mid, ln2 bf16 [n, H]; q, att bf16 [n, q_dim]; k, v bf16 [n, kv_dim];
//                   gate, up, h bf16 [n, I]; rstd1, rstd2 fp32 [n]; lse fp32 [batch, heads, seq]
//                   × 1 (checkpointing, and every forward-only call) or × L (training without it)
//   final norm      bf16 [n, H] + rstd fp32 [n]                      (per shape)
//   head chunk      logits fp32 [c, V], nll fp32 [n]                 (per shape)
//                   + dlogits bf16 [c, V], d_final fp32 [n, H]        (training)
//   backward        dx ×2, dmid, dln fp32 [n, H]; dy_bf16 bf16 [n, H]; datt, dq bf16 [n, q_dim];
//                   dk, dv bf16 [n, kv_dim]; dh, dgate, dup bf16 [n, I]   (training)
//   ZO scratch      bf16 [largest tensor] + bf16 [largest vector]     (only once a perturbed
//                   forward has run: the θ + scale·z copy of the tensor being read)
// Nothing else is allocated. Checkpointed backward recomputes a layer's internals into the one
// activation set; it stops at h (the down projection's output is not needed by backward), so no
// extra output buffer is held.
#include "gpu/model/gpu_model.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "gpu/gemm.h"
#include "gpu/ops.h"

namespace tunesmith::gpu {

namespace {

struct Activations {
  DeviceBuffer<bf16> ln1, q, k, v, att, mid, ln2, gate, up, h;
  DeviceBuffer<float> rstd1, rstd2, lse;
  void resize(const LlamaConfig& c, int64_t batch, int64_t seq) {
    const size_t n = size_t(batch * seq), H = size_t(c.hidden_size), I = size_t(c.intermediate_size);
    const size_t q_dim = size_t(c.num_heads * c.head_dim), kv_dim = size_t(c.num_kv_heads * c.head_dim);
    ln1.resize(n * H, "activations ln1");
    q.resize(n * q_dim, "activations q");
    k.resize(n * kv_dim, "activations k");
    v.resize(n * kv_dim, "activations v");
    att.resize(n * q_dim, "activations attention");
    mid.resize(n * H, "activations mid");
    ln2.resize(n * H, "activations ln2");
    gate.resize(n * I, "activations gate");
    up.resize(n * I, "activations up");
    h.resize(n * I, "activations h");
    rstd1.resize(n, "activations rstd1");
    rstd2.resize(n, "activations rstd2");
    lse.resize(size_t(batch * c.num_heads * seq), "activations lse");
  }
};

}  // namespace

struct GpuModel::Impl {
  LlamaConfig config;
  ParameterLayout layout;
  std::vector<std::pair<size_t, size_t>> tensors;  // (offset, numel) of every parameter, by offset
  DeviceBuffer<bf16> params;
  DeviceBuffer<float> inv_freq;
  bool checkpointing = true;
  int64_t ce_chunk = 1024;
  GpuLinearOverride* linear_override = nullptr;

  // Where decoder Linear weights come from when the model does not hold them (linear_weights =
  // false): the random initialiser (seed, std, offsets of the full layout) or a host model.
  struct LinearSource {
    bool random = false;
    uint64_t seed = 0;
    float std = 0.0f;
    const Transformer<float>* host = nullptr;
    ParameterLayout full_layout;
    bool active() const { return random || host; }
  } linear_source;

  std::vector<ParamRange> trainable;
  std::vector<DeviceBuffer<float>> grads;  // parallel to `trainable`

  // Per-shape buffers.
  int64_t batch = 0, seq = 0;
  DeviceBuffer<int32_t> tokens, targets, positions;
  std::vector<DeviceBuffer<bf16>> layer_inputs;
  std::vector<Activations> acts;
  DeviceBuffer<bf16> final_norm;
  DeviceBuffer<float> final_rstd;
  DeviceBuffer<float> logits, nll;
  // Training only.
  DeviceBuffer<bf16> dlogits;
  DeviceBuffer<float> d_final;
  DeviceBuffer<float> dx_a, dx_b, dmid, dln;
  DeviceBuffer<bf16> dy_bf16, datt, dq, dk, dv, dh, dgate, dup;

  // ZO: the perturbation in force for the current forward pass, and its scratch copies.
  const GpuPerturbation* perturb = nullptr;
  DeviceBuffer<bf16> scratch_matrix, scratch_vector;

  void init_layout() {
    tensors.clear();
    for (const ParamInfo& p : layout.params) tensors.push_back({p.offset, size_t(p.numel)});
    std::sort(tensors.begin(), tensors.end());
  }
  size_t numel_of(size_t offset) const {
    auto it = std::lower_bound(tensors.begin(), tensors.end(), std::pair<size_t, size_t>{offset, 0});
    if (it == tensors.end() || it->first != offset) throw Error("GpuModel: no parameter at offset " + std::to_string(offset));
    return it->second;
  }

  int64_t n_tokens() const { return batch * seq; }

  // Gradient storage of the parameter at `offset` (its whole tensor inside one trainable range),
  // or null when it is frozen.
  float* grad(size_t offset) {
    if (offset == kNoParam) return nullptr;
    const size_t count = numel_of(offset);
    for (size_t i = 0; i < trainable.size(); ++i) {
      const ParamRange& r = trainable[i];
      if (offset >= r.offset && offset + count <= r.offset + r.count) return grads[i].data() + (offset - r.offset);
    }
    return nullptr;
  }

  // A parameter as the current forward pass reads it: θ, or the perturbed copy θ + scale·z.
  // Matrices and vectors have separate scratches, so a Linear's weight and bias can be live at once;
  // each scratch is consumed by the op(s) that follow before it is refilled (stream order).
  const bf16* weight(size_t offset) {
    if (offset == kNoParam) return nullptr;
    const bf16* p = params.data() + offset;
    if (!perturb || perturb->scale == 0.0f) return p;
    const size_t count = numel_of(offset);
    const bool matrix = layout_is_matrix(offset);
    DeviceBuffer<bf16>& scratch = matrix ? scratch_matrix : scratch_vector;
    if (scratch.size() < count) {
      size_t largest = 0;
      for (const ParamInfo& info : layout.params)
        if ((info.shape.size() >= 2) == matrix) largest = std::max(largest, size_t(info.numel));
      scratch.resize(largest, matrix ? "ZO perturbed matrix" : "ZO perturbed vector");
    }
    perturbed_copy_bf16(scratch.data(), p, int64_t(count), perturb->scale, perturb->seed, uint64_t(offset));
    return scratch.data();
  }
  bool layout_is_matrix(size_t offset) const {
    for (const ParamInfo& info : layout.params)
      if (info.offset == offset) return info.shape.size() >= 2;
    return false;
  }

  void check_inputs(const int32_t* tok, const int32_t* tgt, int64_t b, int64_t s) const {
    if (b <= 0 || s <= 0) throw Error("forward: batch and seq must be positive");
    const int64_t n = b * s, V = config.vocab_size;
    for (int64_t i = 0; i < n; ++i)
      if (tok[i] < 0 || tok[i] >= V)
        throw Error("token id " + std::to_string(tok[i]) + " at position " + std::to_string(i) +
                    " is outside the vocabulary [0, " + std::to_string(V) + ")");
    if (tgt)
      for (int64_t i = 0; i < n; ++i)
        if (tgt[i] >= V)
          throw Error("target id " + std::to_string(tgt[i]) + " at position " + std::to_string(i) +
                      " is outside the vocabulary");
  }

  // Sizes the per-shape buffers (reallocating only when the shape changes) and uploads the batch.
  void prepare(const int32_t* tok, const int32_t* tgt, int64_t b, int64_t s, bool training) {
    check_inputs(tok, tgt, b, s);
    const LlamaConfig& c = config;
    if (b != batch || s != seq) {
      batch = b;
      seq = s;
      acts.clear();
      dlogits.release();
      d_final.release();
      for (auto* buf : {&dx_a, &dx_b, &dmid, &dln}) buf->release();
      for (auto* buf : {&dy_bf16, &datt, &dq, &dk, &dv, &dh, &dgate, &dup}) buf->release();
    }
    const int64_t n = b * s, H = c.hidden_size, V = c.vocab_size;
    const int64_t chunk = std::min(ce_chunk, n);
    tokens.resize(size_t(n), "tokens");
    targets.resize(size_t(n), "targets");
    positions.resize(size_t(n), "positions");
    // Training keeps every layer's input for backward; a forward-only pass (evaluation, ZO) needs
    // only the current one and the next, unless a training pass already holds them all.
    const size_t inputs = training ? size_t(c.num_layers + 1) : std::max<size_t>(2, layer_inputs.size());
    layer_inputs.resize(inputs);
    for (auto& li : layer_inputs) li.resize(size_t(n * H), "layer inputs");
    const size_t sets = training && !checkpointing ? size_t(c.num_layers) : 1;
    if (acts.size() < sets) acts.resize(sets);
    for (auto& a : acts) a.resize(c, b, s);
    final_norm.resize(size_t(n * H), "final norm");
    final_rstd.resize(size_t(n), "final norm rstd");
    logits.resize(size_t(chunk * V), "logits chunk");
    nll.resize(size_t(n), "token nll");
    if (training) {
      const int64_t I = c.intermediate_size, q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
      dlogits.resize(size_t(chunk * V), "dlogits chunk");
      d_final.resize(size_t(n * H), "final norm gradient");
      for (auto* buf : {&dx_a, &dx_b, &dmid, &dln}) buf->resize(size_t(n * H), "backward [n, hidden]");
      dy_bf16.resize(size_t(n * H), "backward dy bf16");
      datt.resize(size_t(n * q_dim), "backward datt");
      dq.resize(size_t(n * q_dim), "backward dq");
      dk.resize(size_t(n * kv_dim), "backward dk");
      dv.resize(size_t(n * kv_dim), "backward dv");
      for (auto* buf : {&dh, &dgate, &dup}) buf->resize(size_t(n * I), "backward [n, intermediate]");
    }
    tokens.upload(tok, size_t(n));
    std::vector<int32_t> host(size_t(n), -1);
    if (tgt) host.assign(tgt, tgt + n);
    targets.upload(host.data(), size_t(n));
    for (int64_t t = 0; t < n; ++t) host[size_t(t)] = int32_t(t % s);
    positions.upload(host.data(), size_t(n));
  }

  AttentionDims dims() const {
    AttentionDims d;
    d.batch = batch;
    d.seq = seq;
    d.heads = config.num_heads;
    d.kv_heads = config.num_kv_heads;
    d.head_dim = config.head_dim;
    d.sliding_window = config.sliding_window;
    return d;
  }

  // y = x·Wᵀ (+b), through the override when it claims (layer, slot).
  void linear(int64_t layer, LinearSlot slot, bf16* y, const bf16* x, size_t w, size_t bias, int64_t n, int64_t in,
              int64_t out) {
    if (linear_override && linear_override->overrides(layer, slot)) {
      const bf16* wp = weight(w);
      linear_override->forward(layer, slot, y, x, wp, weight(bias), n, in, out);
      return;
    }
    if (w == kNoParam)
      throw Error(std::string("layer ") + std::to_string(layer) + " " + linear_slot_name(slot) +
                  ": the bf16 weight was released (QLoRA) and no adapter provides it");
    linear_forward(y, ElementType::BF16, x, weight(w), ElementType::BF16, n, in, out);
    if (bias != kNoParam) add_bias_bf16(y, weight(bias), n, out);
  }

  // Weight (and bias) gradients when trainable, then dx (+)= dy·W.
  void linear_backward(int64_t layer, LinearSlot slot, void* dx, ElementType dx_type, const bf16* dy, const bf16* x,
                       size_t w, size_t bias, int64_t n, int64_t in, int64_t out, bool accumulate) {
    if (linear_override && linear_override->overrides(layer, slot)) {
      linear_override->backward(layer, slot, dx, dx_type, dy, x, weight(w), n, in, out, accumulate);
      return;
    }
    // A bias trains only together with its weight (as on the CPU: LISA routes whole layers).
    if (float* dw = grad(w)) {
      linear_backward_weight(dw, ElementType::F32, dy, x, ElementType::BF16, n, in, out, 1.0f);
      if (float* db = grad(bias)) bias_backward(db, dy, n, out);
    }
    linear_backward_input(dx, dx_type, dy, weight(w), ElementType::BF16, n, in, out, accumulate ? 1.0f : 0.0f);
  }

  // Transformer::layer_forward in bf16. With `recompute` (checkpointed backward) it stops once h is
  // known: backward needs every internal but not the layer's output, which is already stored.
  void layer_forward(int64_t layer, const bf16* x, bf16* y, Activations& a, bool recompute) {
    const LlamaConfig& c = config;
    const LayerParamOffsets& o = layout.layers[size_t(layer)];
    const int64_t n = n_tokens(), H = c.hidden_size, I = c.intermediate_size;
    const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
    const float eps = float(c.rms_norm_eps);

    rmsnorm_forward(a.ln1.data(), a.rstd1.data(), x, weight(o.input_norm), n, H, eps);
    linear(layer, LinearSlot::Q, a.q.data(), a.ln1.data(), o.q, o.q_bias, n, H, q_dim);
    linear(layer, LinearSlot::K, a.k.data(), a.ln1.data(), o.k, o.k_bias, n, H, kv_dim);
    linear(layer, LinearSlot::V, a.v.data(), a.ln1.data(), o.v, o.v_bias, n, H, kv_dim);
    rope(a.q.data(), positions.data(), inv_freq.data(), n, c.num_heads, c.head_dim, false);
    rope(a.k.data(), positions.data(), inv_freq.data(), n, c.num_kv_heads, c.head_dim, false);
    attention_forward(a.att.data(), a.lse.data(), a.q.data(), a.k.data(), a.v.data(), dims());
    linear(layer, LinearSlot::O, a.mid.data(), a.att.data(), o.o, o.o_bias, n, q_dim, H);
    add_bf16(a.mid.data(), x, n * H);
    rmsnorm_forward(a.ln2.data(), a.rstd2.data(), a.mid.data(), weight(o.post_norm), n, H, eps);
    linear(layer, LinearSlot::Gate, a.gate.data(), a.ln2.data(), o.gate, kNoParam, n, H, I);
    linear(layer, LinearSlot::Up, a.up.data(), a.ln2.data(), o.up, kNoParam, n, H, I);
    swiglu_forward(a.h.data(), a.gate.data(), a.up.data(), n * I);
    if (recompute) return;
    linear(layer, LinearSlot::Down, y, a.h.data(), o.down, kNoParam, n, I, H);
    add_bf16(y, a.mid.data(), n * H);
  }

  // Transformer::layer_backward: dy, dx fp32 [n, H] (residual stream).
  void layer_backward(int64_t layer, const bf16* x, const float* dy, float* dx, Activations& a) {
    const LlamaConfig& c = config;
    const LayerParamOffsets& o = layout.layers[size_t(layer)];
    const int64_t n = n_tokens(), H = c.hidden_size, I = c.intermediate_size;
    const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
    const ElementType F32 = ElementType::F32, BF16 = ElementType::BF16;

    // MLP: y = m + h·Wdᵀ. The products take bf16 operands: dy rounded once.
    convert_f32_to_bf16(dy_bf16.data(), dy, n * H);
    linear_backward(layer, LinearSlot::Down, dh.data(), BF16, dy_bf16.data(), a.h.data(), o.down, kNoParam, n, I, H,
                    false);
    swiglu_backward(dgate.data(), dup.data(), dh.data(), a.gate.data(), a.up.data(), n * I);
    linear_backward(layer, LinearSlot::Gate, dln.data(), F32, dgate.data(), a.ln2.data(), o.gate, kNoParam, n, H, I,
                    false);
    linear_backward(layer, LinearSlot::Up, dln.data(), F32, dup.data(), a.ln2.data(), o.up, kNoParam, n, H, I, true);
    copy_on_device(dmid.data(), dy, size_t(n * H) * sizeof(float));  // residual path
    rmsnorm_backward(dmid.data(), grad(o.post_norm), dln.data(), a.mid.data(), weight(o.post_norm), a.rstd2.data(), n,
                     H);

    // Attention: m = x + att·Woᵀ (+bo). dy_bf16 is free again: it now holds dmid in bf16.
    convert_f32_to_bf16(dy_bf16.data(), dmid.data(), n * H);
    linear_backward(layer, LinearSlot::O, datt.data(), BF16, dy_bf16.data(), a.att.data(), o.o, o.o_bias, n, q_dim,
                    H, false);
    attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), a.att.data(), a.lse.data(), a.q.data(),
                       a.k.data(), a.v.data(), dims());
    rope(dq.data(), positions.data(), inv_freq.data(), n, c.num_heads, c.head_dim, true);
    rope(dk.data(), positions.data(), inv_freq.data(), n, c.num_kv_heads, c.head_dim, true);
    linear_backward(layer, LinearSlot::Q, dln.data(), F32, dq.data(), a.ln1.data(), o.q, o.q_bias, n, H, q_dim, false);
    linear_backward(layer, LinearSlot::K, dln.data(), F32, dk.data(), a.ln1.data(), o.k, o.k_bias, n, H, kv_dim, true);
    linear_backward(layer, LinearSlot::V, dln.data(), F32, dv.data(), a.ln1.data(), o.v, o.v_bias, n, H, kv_dim, true);
    copy_on_device(dx, dmid.data(), size_t(n * H) * sizeof(float));  // residual path
    rmsnorm_backward(dx, grad(o.input_norm), dln.data(), x, weight(o.input_norm), a.rstd1.data(), n, H);
  }

  // Embedding and every layer's forward; leaves x_L in layer_inputs[L].
  // Layer l's input x_l (l = L: the last layer's output); the buffers are reused round-robin when
  // fewer than L + 1 are held (forward-only passes).
  bf16* layer_input(int64_t l) { return layer_inputs[size_t(l) % layer_inputs.size()].data(); }

  void forward_layers(bool training) {
    const LlamaConfig& c = config;
    const int64_t n = n_tokens(), H = c.hidden_size;
    const bool keep_all = training && !checkpointing;
    if (linear_override) linear_override->begin_forward(training);
    const bool perturbed = perturb && perturb->scale != 0.0f;
    embedding_forward(layer_input(0), tokens.data(), params.data() + layout.embed, n, H,
                      perturbed ? perturb->scale : 0.0f, perturbed ? perturb->seed : 0, uint64_t(layout.embed));
    for (int64_t l = 0; l < c.num_layers; ++l)
      layer_forward(l, layer_input(l), layer_input(l + 1),
                    acts[keep_all ? size_t(l) : 0], false);
    rmsnorm_forward(final_norm.data(), final_rstd.data(), layer_input(c.num_layers),
                    weight(layout.final_norm), n, H, float(c.rms_norm_eps));
  }

  // The head in chunks of rows: logits, token nll and (training) the head's backward, which
  // leaves d(final norm output) in d_final and accumulates the lm_head weight gradient.
  void head(bool training, float scale) {
    const LlamaConfig& c = config;
    const int64_t n = n_tokens(), H = c.hidden_size, V = c.vocab_size;
    const int64_t chunk = std::min(ce_chunk, n);
    const bf16* w = weight(layout.lm_head);
    float* dw = training ? grad(layout.lm_head) : nullptr;
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
      const int64_t rows = std::min(chunk, n - r0);
      const bf16* xn = final_norm.data() + r0 * H;
      linear_forward(logits.data(), ElementType::F32, xn, w, ElementType::BF16, rows, H, V);
      cross_entropy(nll.data() + r0, training ? dlogits.data() : nullptr, logits.data(), targets.data() + r0, rows, V,
                    scale);
      if (!training) continue;
      linear_backward_input(d_final.data() + r0 * H, ElementType::F32, dlogits.data(), w, ElementType::BF16, rows, H, V,
                            0.0f);
      if (dw) linear_backward_weight(dw, ElementType::F32, dlogits.data(), xn, ElementType::BF16, rows, H, V, 1.0f);
    }
  }

  double mean_loss(const int32_t* host_targets) {
    const int64_t n = n_tokens();
    if (!host_targets) return 0.0;
    std::vector<float> host = nll.download();
    double total = 0.0;
    int64_t targeted = 0;
    for (int64_t t = 0; t < n; ++t) {
      if (host_targets[t] < 0) continue;
      ++targeted;
      total += double(host[size_t(t)]);
    }
    return targeted > 0 ? total / double(targeted) : 0.0;
  }
};

namespace {

int64_t count_targeted(const int32_t* targets, int64_t n) {
  int64_t k = 0;
  if (targets)
    for (int64_t i = 0; i < n; ++i) k += targets[i] >= 0 ? 1 : 0;
  return k;
}

std::unique_ptr<GpuModel::Impl> make_impl(const LlamaConfig& config, const ParameterLayout& layout) {
  config.validate("model config");
  auto impl = std::make_unique<GpuModel::Impl>();
  impl->config = config;
  impl->layout = layout;
  impl->init_layout();
  impl->params.resize(layout.total, "model parameters (bf16)");
  const std::vector<float> inv_freq = rope_inv_freq(config);
  impl->inv_freq.resize(inv_freq.size(), "rope inv_freq");
  impl->inv_freq.upload(inv_freq.data(), inv_freq.size());
  return impl;
}

}  // namespace

GpuModel::GpuModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuModel::~GpuModel() = default;

namespace {

// The layout without decoder Linear weights (what release_linear_weights leaves).
ParameterLayout without_linear_weights(const ParameterLayout& full) {
  std::vector<bool> keep(full.params.size(), true);
  for (size_t i = 0; i < full.params.size(); ++i) keep[i] = !ParameterLayout::is_decoder_linear_weight(full.params[i].name);
  return full.compacted(keep);
}

// Host fp32 values to bf16 on the card in bounded chunks: a 7B model never has a second full copy
// on the host.
void upload_rounded(bf16* dst, const float* src, size_t count) {
  const size_t chunk = size_t(1) << 22;
  std::vector<bf16> staging(std::min(count, chunk));
  for (size_t start = 0; start < count; start += chunk) {
    const size_t n = std::min(chunk, count - start);
    for (size_t i = 0; i < n; ++i) staging[i] = float_to_bf16(src[start + i]);
    copy_to_device(dst + start, staging.data(), n * sizeof(bf16));
  }
}

// Random initial value of one tensor: matrices N(0, std) keyed on the tensor's full-layout offset,
// biases 0, norm weights 1.
void init_random_tensor(bf16* dst, const ParamInfo& p, size_t full_offset, uint64_t seed, float std) {
  if (p.shape.size() >= 2) init_normal_bf16(dst, p.numel, std, seed, uint64_t(full_offset));
  else if (p.name.size() >= 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0) fill_bf16(dst, 0.0f, p.numel);
  else fill_bf16(dst, 1.0f, p.numel);  // norm weights
}

}  // namespace

std::unique_ptr<GpuModel> GpuModel::upload(const Transformer<float>& host, bool linear_weights) {
  const ParameterLayout& full = host.layout();
  auto impl = make_impl(host.config(), linear_weights ? full : without_linear_weights(full));
  if (linear_weights) {
    upload_rounded(impl->params.data(), host.params(), full.total);
  } else {
    for (const ParamInfo& p : impl->layout.params)
      upload_rounded(impl->params.data() + p.offset, host.params() + full.find(p.name)->offset, size_t(p.numel));
    impl->linear_source.host = &host;
    impl->linear_source.full_layout = full;
  }
  return std::unique_ptr<GpuModel>(new GpuModel(std::move(impl)));
}

std::unique_ptr<GpuModel> GpuModel::random(const LlamaConfig& config, uint64_t seed, float std, bool linear_weights) {
  const ParameterLayout full = ParameterLayout::build(config);
  auto impl = make_impl(config, linear_weights ? full : without_linear_weights(full));
  for (const ParamInfo& p : impl->layout.params)
    init_random_tensor(impl->params.data() + p.offset, p, full.find(p.name)->offset, seed, std);
  if (!linear_weights) {
    impl->linear_source.random = true;
    impl->linear_source.seed = seed;
    impl->linear_source.std = std;
    impl->linear_source.full_layout = full;
  }
  return std::unique_ptr<GpuModel>(new GpuModel(std::move(impl)));
}

bool GpuModel::holds_linear_weights() const {
  for (const LayerParamOffsets& o : impl_->layout.layers)
    if (o.q != kNoParam) return true;
  return false;
}

namespace {
// Elements of decoder Linear `slot`'s weight.
int64_t slot_numel(const LlamaConfig& c, LinearSlot slot) {
  int64_t in = 0, out = 0;
  linear_slot_shape(c, slot, in, out);
  return in * out;
}
}  // namespace

void GpuModel::linear_weight(int64_t layer, LinearSlot slot, bf16* dst) {
  Impl& m = *impl_;
  if (layer < 0 || layer >= m.config.num_layers) throw Error("linear_weight: no layer " + std::to_string(layer));
  const size_t held = linear_slot_offset(m.layout.layers[size_t(layer)], slot);
  const std::string where = "layer " + std::to_string(layer) + " " + linear_slot_name(slot);
  const int64_t numel = slot_numel(m.config, slot);
  if (held != kNoParam) {
    copy_on_device(dst, m.params.data() + held, size_t(numel) * sizeof(bf16));
    return;
  }
  const Impl::LinearSource& src = m.linear_source;
  if (!src.active()) throw Error(where + ": the bf16 weight was released and the model has no source for it");
  const size_t full_offset = linear_slot_offset(src.full_layout.layers[size_t(layer)], slot);
  if (src.random) init_normal_bf16(dst, numel, src.std, src.seed, uint64_t(full_offset));
  else upload_rounded(dst, src.host->params() + full_offset, size_t(numel));
}

const LlamaConfig& GpuModel::config() const { return impl_->config; }
const ParameterLayout& GpuModel::layout() const { return impl_->layout; }
bf16* GpuModel::params() { return impl_->params.data(); }

std::vector<float> GpuModel::download_params() const {
  const std::vector<bf16> raw = impl_->params.download();
  std::vector<float> out(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) out[i] = bf16_to_float(raw[i]);
  return out;
}

void GpuModel::set_checkpointing(bool on) {
  impl_->checkpointing = on;
  if (on && impl_->acts.size() > 1) impl_->acts.resize(1);  // per-layer sets are no longer needed
}
bool GpuModel::checkpointing() const { return impl_->checkpointing; }

void GpuModel::set_ce_chunk_tokens(int64_t rows) {
  if (rows <= 0) throw Error("ce_chunk_tokens must be positive");
  impl_->ce_chunk = rows;
  impl_->batch = impl_->seq = 0;  // head buffers are resized with the next call
  impl_->layer_inputs.clear();
  impl_->acts.clear();
}

void GpuModel::set_linear_override(GpuLinearOverride* o) { impl_->linear_override = o; }

void GpuModel::release_linear_weights() {
  Impl& m = *impl_;
  m.linear_source = Impl::LinearSource{};
  if (!holds_linear_weights()) return;
  std::vector<bool> keep(m.layout.params.size(), true);
  for (size_t i = 0; i < m.layout.params.size(); ++i)
    keep[i] = !ParameterLayout::is_decoder_linear_weight(m.layout.params[i].name);
  ParameterLayout compact = m.layout.compacted(keep);
  DeviceBuffer<bf16> kept(compact.total, "model parameters (bf16, linear weights released)");
  for (const ParamInfo& info : compact.params) {
    const ParamInfo* old = m.layout.find(info.name);
    copy_on_device(kept.data() + info.offset, m.params.data() + old->offset, size_t(info.numel) * sizeof(bf16));
  }
  m.params = std::move(kept);
  m.layout = std::move(compact);
  m.init_layout();
  // Offsets moved: trainable ranges naming the old ones would be wrong.
  m.trainable.clear();
  m.grads.clear();
  m.scratch_matrix.release();
  m.scratch_vector.release();
}

void GpuModel::set_trainable(const std::vector<ParamRange>& ranges) {
  Impl& m = *impl_;
  for (const ParamRange& r : ranges)
    if (r.offset + r.count > m.layout.total || r.count == 0)
      throw Error("set_trainable: range [" + std::to_string(r.offset) + ", " + std::to_string(r.offset + r.count) +
                  ") is empty or outside the " + std::to_string(m.layout.total) + " parameters");
  // Keep the storage of ranges that stay (their gradients survive), free the others first so the
  // peak never holds both, then allocate the new ones zeroed.
  std::vector<DeviceBuffer<float>> kept(ranges.size());
  std::vector<bool> reused(ranges.size(), false);
  for (size_t i = 0; i < m.trainable.size(); ++i) {
    bool stays = false;
    for (size_t j = 0; j < ranges.size(); ++j)
      if (!reused[j] && ranges[j].offset == m.trainable[i].offset && ranges[j].count == m.trainable[i].count) {
        kept[j] = std::move(m.grads[i]);
        reused[j] = true;
        stays = true;
        break;
      }
    if (!stays) m.grads[i].release();
  }
  m.grads.clear();
  for (size_t j = 0; j < ranges.size(); ++j)
    if (!reused[j]) kept[j].resize(ranges[j].count, "parameter gradients (fp32)");
  m.grads = std::move(kept);
  m.trainable = ranges;
}

const std::vector<ParamRange>& GpuModel::trainable() const { return impl_->trainable; }

float* GpuModel::grad_of_range(size_t offset) {
  for (size_t i = 0; i < impl_->trainable.size(); ++i)
    if (impl_->trainable[i].offset == offset) return impl_->grads[i].data();
  return nullptr;
}

void GpuModel::zero_grads() {
  for (auto& g : impl_->grads) g.zero();
}

double GpuModel::grad_sum_squares() {
  double total = 0.0;
  for (auto& g : impl_->grads) total += sum_squares_f32(g.data(), int64_t(g.size()));
  return total;
}

double GpuModel::loss(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq,
                      const GpuPerturbation* perturb) {
  Impl& m = *impl_;
  m.prepare(tokens, targets, batch, seq, false);
  m.perturb = perturb;
  try {
    m.forward_layers(false);
    m.head(false, 0.0f);
  } catch (...) {
    m.perturb = nullptr;
    throw;
  }
  m.perturb = nullptr;
  return m.mean_loss(targets);
}

double GpuModel::forward_backward(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq,
                                  double grad_scale) {
  Impl& m = *impl_;
  const LlamaConfig& c = m.config;
  m.prepare(tokens, targets, batch, seq, true);
  m.perturb = nullptr;
  const int64_t n = batch * seq, H = c.hidden_size;
  const int64_t targeted = count_targeted(targets, n);
  m.forward_layers(true);
  if (targeted == 0) {  // no loss, no gradient (as on the CPU)
    m.head(false, 0.0f);
    return 0.0;
  }
  // The head's backward runs inside its chunk loop (all logits are never held at once).
  m.head(true, float(grad_scale / double(targeted)));
  const double mean = m.mean_loss(targets);

  float* dx = m.dx_a.data();
  float* dx_next = m.dx_b.data();
  fill_zero(dx, size_t(n * H) * sizeof(float));
  rmsnorm_backward(dx, m.grad(m.layout.final_norm), m.d_final.data(), m.layer_inputs[size_t(c.num_layers)].data(),
                   m.weight(m.layout.final_norm), m.final_rstd.data(), n, H);
  const bool stored = m.acts.size() == size_t(c.num_layers) && !m.checkpointing;
  for (int64_t l = c.num_layers - 1; l >= 0; --l) {
    Activations& a = m.acts[stored ? size_t(l) : 0];
    if (!stored) m.layer_forward(l, m.layer_inputs[size_t(l)].data(), nullptr, a, true);
    m.layer_backward(l, m.layer_inputs[size_t(l)].data(), dx, dx_next, a);
    std::swap(dx, dx_next);
  }
  if (float* dtable = m.grad(m.layout.embed)) embedding_backward(dtable, dx, m.tokens.data(), n, H);
  return mean;
}

std::vector<float> GpuModel::logits(const int32_t* tokens, int64_t batch, int64_t seq) {
  Impl& m = *impl_;
  const LlamaConfig& c = m.config;
  m.prepare(tokens, nullptr, batch, seq, false);
  m.perturb = nullptr;
  m.forward_layers(false);
  const int64_t n = batch * seq, H = c.hidden_size, V = c.vocab_size;
  const int64_t chunk = std::min(m.ce_chunk, n);
  std::vector<float> out(size_t(n * V));
  const bf16* w = m.weight(m.layout.lm_head);
  for (int64_t r0 = 0; r0 < n; r0 += chunk) {
    const int64_t rows = std::min(chunk, n - r0);
    linear_forward(m.logits.data(), ElementType::F32, m.final_norm.data() + r0 * H, w, ElementType::BF16, rows, H, V);
    copy_to_host(out.data() + r0 * V, m.logits.data(), size_t(rows * V) * sizeof(float));
  }
  return out;
}

}  // namespace tunesmith::gpu
