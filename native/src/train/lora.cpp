#include "train/lora.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/error.h"
#include "core/rng.h"
#include "model/model.h"

namespace tunesmith {

double LoraConfig::scaling() const { return use_rslora ? alpha / std::sqrt(double(r)) : alpha / double(r); }

void LoraConfig::validate() const {
  if (r <= 0) throw Error("LoRA config: r must be a positive integer, got " + std::to_string(r));
  if (!(alpha > 0.0) || !std::isfinite(alpha)) throw Error("LoRA config: lora_alpha must be > 0");
  if (!(dropout >= 0.0 && dropout < 1.0)) throw Error("LoRA config: lora_dropout must be in [0, 1)");
  if (targets.empty()) throw Error("LoRA config: target_modules is empty");
  for (size_t i = 0; i < targets.size(); ++i)
    for (size_t j = i + 1; j < targets.size(); ++j)
      if (targets[i] == targets[j])
        throw Error(std::string("LoRA config: target_modules lists ") + linear_slot_name(targets[i]) + " twice");
}

std::vector<LinearSlot> lora_target_preset(const std::string& name) {
  using S = LinearSlot;
  if (name == "attention") return {S::Q, S::K, S::V, S::O};
  if (name == "all-linear" || name == "all linear" || name == "all_linear")
    return {S::Q, S::K, S::V, S::O, S::Gate, S::Up, S::Down};
  if (name == "qv") return {S::Q, S::V};
  throw Error("unknown LoRA target preset '" + name + "' (expected attention, all-linear or qv)");
}

LinearSlot parse_linear_slot(const std::string& name) {
  for (int s = 0; s < kNumLinearSlots; ++s) {
    const std::string full = linear_slot_name(LinearSlot(s));
    if (name == full || name == full.substr(0, full.size() - 5)) return LinearSlot(s);
  }
  throw Error("unknown LoRA target module '" + name + "' (expected q_proj, k_proj, v_proj, o_proj, gate_proj, "
              "up_proj or down_proj)");
}

namespace {

uint64_t mix64(uint64_t z) {  // splitmix64's finaliser: a strong 64-bit hash
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}


}  // namespace

template <typename T>
LoraLinears<T>::LoraLinears(const LlamaConfig& model, const LoraConfig& config, Backend<T>& backend)
    : config_(config), backend_(backend), num_layers_(model.num_layers), scale_(config.scaling()) {
  config.validate();
  std::vector<LinearSlot> targets = config.targets;
  std::sort(targets.begin(), targets.end());
  for (int s = 0; s < kNumLinearSlots; ++s) linear_slot_shape(model, LinearSlot(s), slot_in_[s], slot_out_[s]);
  module_at_.assign(size_t(num_layers_) * kNumLinearSlots, -1);
  nf4_.resize(module_at_.size());
  size_t total = 0;
  for (int64_t l = 0; l < num_layers_; ++l)
    for (LinearSlot slot : targets) {
      Module m;
      m.layer = l;
      m.slot = slot;
      m.in = slot_in_[int(slot)];
      m.out = slot_out_[int(slot)];
      m.a = total;
      total += size_t(config.r * m.in);
      m.b = total;
      total += size_t(m.out * config.r);
      module_at_[index(l, slot)] = int(modules_.size());
      modules_.push_back(m);
    }
  params_.resize(total);
  grads_.resize(total);
  // PEFT: nn.Linear's reset_parameters on lora_A = kaiming_uniform_(a=√5), whose bound is
  // gain·√(3/fan_in) with gain = √(2/(1+5)), i.e. 1/√in. lora_B stays zero.
  Rng rng(config.seed);
  for (const Module& m : modules_) {
    const double bound = 1.0 / std::sqrt(double(m.in));
    for (int64_t i = 0; i < config.r * m.in; ++i) params_[m.a + size_t(i)] = T((2.0 * rng.uniform() - 1.0) * bound);
  }
}

template <typename T>
const typename LoraLinears<T>::Module* LoraLinears<T>::find(int64_t layer, LinearSlot slot) const {
  if (layer < 0 || layer >= num_layers_) return nullptr;
  const int at = module_at_[index(layer, slot)];
  return at < 0 ? nullptr : &modules_[size_t(at)];
}

template <typename T>
void LoraLinears<T>::quantize_base(int64_t layer, LinearSlot slot, const T* weight) {
  if (layer < 0 || layer >= num_layers_) throw Error("quantize_base: layer " + std::to_string(layer) + " out of range");
  const int64_t in = slot_in_[int(slot)], out = slot_out_[int(slot)];
  std::vector<float> w32(size_t(in * out));
  for (size_t i = 0; i < w32.size(); ++i) w32[i] = float(weight[i]);
  nf4_[index(layer, slot)] = std::make_unique<Nf4Tensor>(quantize_nf4(w32.data(), {out, in}, true, 64));
}

template <typename T>
const Nf4Tensor* LoraLinears<T>::base_nf4(int64_t layer, LinearSlot slot) const {
  if (layer < 0 || layer >= num_layers_) return nullptr;
  return nf4_[index(layer, slot)].get();
}

template <typename T>
size_t LoraLinears<T>::nf4_storage_bytes() const {
  size_t bytes = 0;
  for (const auto& q : nf4_)
    if (q) bytes += q->storage_bytes();
  return bytes;
}

template <typename T>
void LoraLinears<T>::base_weight(int64_t layer, LinearSlot slot, const T* fp32_weight, T* out) const {
  if (const Nf4Tensor* q = base_nf4(layer, slot)) {
    if constexpr (std::is_same<T, float>::value) {
      dequantize_nf4(*q, out);
    } else {
      std::vector<float> w32(size_t(q->numel));
      dequantize_nf4(*q, w32.data());
      for (size_t i = 0; i < w32.size(); ++i) out[i] = T(w32[i]);
    }
    return;
  }
  if (!fp32_weight)
    throw Error("layer " + std::to_string(layer) + " " + linear_slot_name(slot) + ": no base weight (neither fp32 nor NF4)");
  std::copy(fp32_weight, fp32_weight + slot_in_[int(slot)] * slot_out_[int(slot)], out);
}

template <typename T>
bool LoraLinears<T>::overrides(int64_t layer, LinearSlot slot) const {
  if (layer < 0 || layer >= num_layers_) return false;
  return module_at_[index(layer, slot)] >= 0 || nf4_[index(layer, slot)] != nullptr;
}

template <typename T>
void LoraLinears<T>::begin_forward(bool for_training) {
  training_ = for_training;
  if (for_training) ++training_forwards_;
}

template <typename T>
const T* LoraLinears<T>::effective_base(int64_t layer, LinearSlot slot, const T* w, int64_t in, int64_t out) {
  const Nf4Tensor* q = base_nf4(layer, slot);
  if (!q) {
    if (!w)
      throw Error("layer " + std::to_string(layer) + " " + linear_slot_name(slot) + ": no base weight (neither fp32 nor NF4)");
    return w;
  }
  dequantized_.resize(std::max(dequantized_.size(), size_t(in * out)));
  if constexpr (std::is_same<T, float>::value) {
    dequantize_nf4(*q, dequantized_.data());
  } else {
    std::vector<float> w32(size_t(in * out));
    dequantize_nf4(*q, w32.data());
    for (size_t i = 0; i < w32.size(); ++i) dequantized_[i] = T(w32[i]);
  }
  return dequantized_.data();
}

// Inverted dropout as torch.nn.Dropout: keep with probability 1-p and scale kept values by 1/(1-p).
// Host loop: the CUDA backend will generate the same counter-based mask on the device.
template <typename T>
void LoraLinears<T>::scale_by_mask(int64_t layer, LinearSlot slot, T* values, int64_t count) const {
  const uint64_t stream = mix64(mix64(mix64(config_.seed ^ 0xD2B74407B1CE6E93ull) ^ training_forwards_) ^
                                uint64_t(layer * kNumLinearSlots + int64_t(slot)));
  const double p = config_.dropout;
  const T keep_scale = T(1.0 / (1.0 - p));
  for (int64_t e = 0; e < count; ++e) {
    const double u = double(mix64(stream ^ uint64_t(e)) >> 11) * (1.0 / 9007199254740992.0);
    values[e] = u < p ? T(0) : values[e] * keep_scale;
  }
}

template <typename T>
const T* LoraLinears<T>::dropped_input(int64_t layer, LinearSlot slot, const T* x, int64_t count) {
  if (!dropout_active()) return x;
  dropped_.resize(std::max(dropped_.size(), size_t(count)));
  std::copy(x, x + count, dropped_.data());
  scale_by_mask(layer, slot, dropped_.data(), count);
  return dropped_.data();
}

template <typename T>
void LoraLinears<T>::forward(int64_t layer, LinearSlot slot, T* y, const T* x, const T* w, const T* bias, int64_t n,
                             int64_t in, int64_t out) {
  backend_.matmul_forward(y, x, effective_base(layer, slot, w, in, out), bias, n, in, out);
  const Module* m = find(layer, slot);
  if (!m) return;  // QLoRA-quantized layer without an adapter
  const int64_t r = config_.r;
  low_rank_.resize(std::max(low_rank_.size(), size_t(n * r)));
  update_.resize(std::max(update_.size(), size_t(n * out)));
  const T* xd = dropped_input(layer, slot, x, n * in);
  backend_.matmul_forward(low_rank_.data(), xd, params_.data() + m->a, nullptr, n, in, r);       // u = xd·Aᵀ
  backend_.matmul_forward(update_.data(), low_rank_.data(), params_.data() + m->b, nullptr, n, r, out);  // u·Bᵀ
  backend_.scale_inplace(update_.data(), scale_, n * out);  // PEFT: lora_B(lora_A(dropout(x))) * scaling
  backend_.add_inplace(y, update_.data(), n * out);
}

template <typename T>
void LoraLinears<T>::backward(int64_t layer, LinearSlot slot, T* dx, const T* dy, const T* x, const T* w, int64_t n,
                              int64_t in, int64_t out, bool accumulate) {
  backend_.matmul_backward_input(dx, dy, effective_base(layer, slot, w, in, out), n, in, out, accumulate);
  const Module* m = find(layer, slot);
  if (!m) return;
  const int64_t r = config_.r;
  const T* A = params_.data() + m->a;
  const T* B = params_.data() + m->b;
  low_rank_.resize(std::max(low_rank_.size(), size_t(n * r)));
  d_low_rank_.resize(std::max(d_low_rank_.size(), size_t(n * r)));
  // Recompute u = xd·Aᵀ (n·in·r, cheap next to the base matmul) rather than storing it per layer.
  const T* xd = dropped_input(layer, slot, x, n * in);
  backend_.matmul_forward(low_rank_.data(), xd, A, nullptr, n, in, r);
  // dB += s · dyᵀ·u
  backend_.scale_inplace(low_rank_.data(), scale_, n * r);
  backend_.matmul_backward_weight(grads_.data() + m->b, nullptr, dy, low_rank_.data(), n, r, out);
  // du = s · dy·B;  dA += duᵀ·xd
  backend_.matmul_backward_input(d_low_rank_.data(), dy, B, n, r, out, false);
  backend_.scale_inplace(d_low_rank_.data(), scale_, n * r);
  backend_.matmul_backward_weight(grads_.data() + m->a, nullptr, d_low_rank_.data(), xd, n, in, r);
  // dx += dropout'(du·A): the mask and its 1/(1-p) scale apply to the gradient too.
  if (!dropout_active()) {
    backend_.matmul_backward_input(dx, d_low_rank_.data(), A, n, in, r, true);
    return;
  }
  d_dropped_.resize(std::max(d_dropped_.size(), size_t(n * in)));
  backend_.matmul_backward_input(d_dropped_.data(), d_low_rank_.data(), A, n, in, r, false);
  scale_by_mask(layer, slot, d_dropped_.data(), n * in);
  backend_.add_inplace(dx, d_dropped_.data(), n * in);
}

template class LoraLinears<float>;
template class LoraLinears<double>;

std::vector<bool> LoraAdapter::trainable_base_parameters(const ParameterLayout& layout) const {
  std::vector<bool> trainable(layout.params.size(), false);
  for (size_t i = 0; i < layout.params.size(); ++i) {
    const size_t offset = layout.params[i].offset;
    if ((config().train_embeddings && offset == layout.embed) || (config().train_head && offset == layout.lm_head))
      trainable[i] = true;
  }
  return trainable;
}

TrainableView<float> LoraAdapter::trainable_spans() {
  TrainableView<float> view;
  view.spans.push_back({linears_.params(), int64_t(linears_.num_params()), linears_.grads(), "lora"});
  return view;
}

std::shared_ptr<LoraAdapter> attach_lora(Model& model, const LoraConfig& config) {
  if (model.adapter()) throw Error("attach_lora: the model already has an adapter (detach it or load a fresh base)");
  auto adapter = std::make_shared<LoraAdapter>(model.config(), config, model.backend());
  if (config.quantize_base_nf4) {
    // QLoRA quantizes every Linear in the decoder (bitsandbytes' Linear4bit replaces them all);
    // embeddings, norms and lm_head stay in full precision.
    const ParameterLayout& layout = model.layout();
    for (int64_t l = 0; l < model.config().num_layers; ++l) {
      const LayerParamOffsets& o = layout.layers[size_t(l)];
      for (int s = 0; s < kNumLinearSlots; ++s) {
        const size_t offset = linear_slot_offset(o, LinearSlot(s));
        if (offset == kNoParam) throw Error("attach_lora: the model's fp32 Linear weights were already released");
        adapter->linears().quantize_base(l, LinearSlot(s), model.parameters() + offset);
      }
    }
    model.transformer().release_linear_weights();
  }
  model.attach_adapter(adapter);
  return adapter;
}

}  // namespace tunesmith
