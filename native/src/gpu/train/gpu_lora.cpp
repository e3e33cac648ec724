// LoRA / QLoRA on the GPU (gpu_lora.h). Host code: every device operation is an ops.h or gemm.h call.
//
// Storage (all device):
//  - params: every adapter's fp32 A [r, in] and B [out, r] in ONE flat buffer, in the CPU engine's
//    order (train/lora.cpp: layer-major, targets sorted by slot, A then B), so flat indices mean the
//    same on both and one kernel call updates, zeroes or reduces everything;
//  - grads: the same layout, fp32; AdamW m and v: the same layout, fp32, allocated at the first
//    adamw_step (an evaluation-only adapter never holds them);
//  - params16: bf16 copies the products read, refreshed lazily: whenever the masters changed
//    (adamw_step, upload_*), the next begin_forward (or forward, if it comes first) converts the
//    whole buffer once; checkpoint recomputations and backward read the same copies forward read.
//  - QLoRA: per decoder Linear, NF4 codes, 8-bit absmax codes, fp32 second-level absmax and the
//    offset (bitsandbytes' layout, kernels/nf4.cu); one shared bf16 scratch [max out·in] receives
//    the dequantized weight of the product being run (forward and the input-gradient product).
//
// The low-rank intermediate is recomputed in backward rather than stored (gpu_lora_math.h).
// Dropout masks: Philox (dropout_bf16) keyed on seed = mix(config.seed, training forwards so far)
// and offset = ((layer · 7 + slot) << 40) + element, so a checkpoint recomputation and backward
// redraw the forward's mask bit for bit. The CPU engine draws its masks with a different generator
// (train/lora.cpp scale_by_mask), so GPU and CPU agree in distribution, not mask for mask.
#include "gpu/train/gpu_lora.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/rng.h"
#include "gpu/device_memory.h"
#include "gpu/gemm.h"
#include "gpu/ops.h"
#include "gpu/train/gpu_lora_math.h"
#include "quant/nf4.h"

namespace tunesmith::gpu {


using lora_detail::LoraDropout;
using lora_detail::LoraScratch;
using lora_detail::LoraWeights;

namespace {


constexpr int64_t kNf4Blocksize = 64;    // QLoRA / bitsandbytes defaults (quant/nf4.h)
constexpr int64_t kNf4Blocksize2 = 256;
constexpr int kDropoutOffsetShift = 40;  // 2^40 mask elements per Linear (n·in must stay below)

}  // namespace

struct GpuLora::Impl {
  struct Module {
    int64_t layer = 0;
    LinearSlot slot = LinearSlot::Q;
    int64_t in = 0, out = 0;
    size_t a = 0, b = 0;  // offsets of A and B in params (the CPU LoraLinears layout)
  };
  struct Nf4Weight {
    int64_t numel = 0;
    DeviceBuffer<uint8_t> packed;        // (numel + 1) / 2
    DeviceBuffer<uint8_t> absmax_codes;  // blocks
    DeviceBuffer<float> absmax2;         // ceil(blocks / 256)
    float offset = 0.0f;
    size_t bytes() const { return packed.bytes() + absmax_codes.bytes() + absmax2.bytes() + sizeof(float); }
  };

  GpuModel& model;
  GpuLoraConfig config;
  int64_t num_layers = 0;
  int64_t slot_in[kNumLinearSlots] = {}, slot_out[kNumLinearSlots] = {};
  float scaling = 1.0f;
  std::vector<Module> modules;
  std::vector<int> module_at;  // index(layer, slot) -> modules index or -1
  size_t total = 0;
  DeviceBuffer<float> params, grads, m, v;
  DeviceBuffer<bf16> params16;
  bool params16_stale = true;
  // QLoRA
  std::vector<std::unique_ptr<Nf4Weight>> nf4;  // index(layer, slot)
  DeviceBuffer<float> code8;
  DeviceBuffer<bf16> dequantized;
  // per pass
  bool training = false;
  uint64_t training_forwards = 0;
  LoraScratch scratch;

  Impl(GpuModel& model_, const GpuLoraConfig& config_) : model(model_), config(config_) {}

  size_t index(int64_t layer, LinearSlot slot) const { return size_t(layer) * kNumLinearSlots + size_t(slot); }
  const Module* find(int64_t layer, LinearSlot slot) const {
    if (layer < 0 || layer >= num_layers) return nullptr;
    const int at = module_at[index(layer, slot)];
    return at < 0 ? nullptr : &modules[size_t(at)];
  }
  const Module& require(int64_t layer, LinearSlot slot, const char* what) const {
    const Module* mod = find(layer, slot);
    if (!mod)
      throw Error(std::string("GpuLora::") + what + ": no adapter on layer " + std::to_string(layer) + " " +
                  linear_slot_name(slot));
    return *mod;
  }

  void refresh_params16() {
    if (!params16_stale) return;
    if (total) convert_f32_to_bf16(params16.data(), params.data(), int64_t(total));
    params16_stale = false;
  }

  // The bf16 base weight of (layer, slot): the model's, or the NF4 copy dequantized into scratch.
  const bf16* base_weight(int64_t layer, LinearSlot slot, const bf16* w) {
    const Nf4Weight* q = nf4.empty() ? nullptr : nf4[index(layer, slot)].get();
    if (!q) {
      if (!w)
        throw Error("GPU LoRA: layer " + std::to_string(layer) + " " + linear_slot_name(slot) +
                    ": no base weight (neither bf16 nor NF4)");
      return w;
    }
    nf4_dequantize_bf16(dequantized.data(), q->packed.data(), q->absmax_codes.data(), q->absmax2.data(), code8.data(),
                        q->offset, q->numel, kNf4Blocksize, kNf4Blocksize2);
    return dequantized.data();
  }

  LoraWeights weights_of(int64_t layer, LinearSlot slot) {
    LoraWeights lw;
    const Module* mod = find(layer, slot);
    if (!mod) return lw;
    refresh_params16();
    lw.a16 = params16.data() + mod->a;
    lw.b16 = params16.data() + mod->b;
    lw.grad_a = grads.data() + mod->a;
    lw.grad_b = grads.data() + mod->b;
    lw.r = config.rank;
    lw.scaling = scaling;
    return lw;
  }

  LoraDropout dropout_of(int64_t layer, LinearSlot slot, int64_t n, int64_t in) const {
    LoraDropout d;
    if (!training || config.dropout <= 0.0) return d;
    if (n * in >= (int64_t(1) << kDropoutOffsetShift))
      throw Error("GPU LoRA dropout: " + std::to_string(n * in) + " input elements exceed the mask's index range");
    d.p = float(config.dropout);
    d.seed = lora_detail::lora_mix64(lora_detail::lora_mix64(config.seed ^ 0xD2B74407B1CE6E93ull) ^ training_forwards);
    d.offset = uint64_t(index(layer, slot)) << kDropoutOffsetShift;
    return d;
  }

  // Replaces `count` adapter values at `offset` (A or B of one module); the bf16 copies follow.
  void write_params(const char* what, size_t offset, int64_t count, const std::vector<float>& values) {
    if (int64_t(values.size()) != count) throw Error(std::string("GpuLora::") + what + ": wrong size");
    copy_to_device(params.data() + offset, values.data(), values.size() * sizeof(float));
    params16_stale = true;
  }

  void check_shape(int64_t layer, LinearSlot slot, int64_t in, int64_t out, const char* what) const {
    if (layer < 0 || layer >= num_layers || in != slot_in[int(slot)] || out != slot_out[int(slot)])
      throw Error(std::string("GpuLora::") + what + ": layer " + std::to_string(layer) + " " + linear_slot_name(slot) +
                  " called with [" + std::to_string(out) + ", " + std::to_string(in) + "]");
  }

  void quantize_all() {
    const ParameterLayout& layout = model.layout();
    const std::array<float, 256>& map = dynamic_map_signed();
    code8.resize(256, "NF4 code8 map");
    code8.upload(map.data(), map.size());
    nf4.resize(size_t(num_layers) * kNumLinearSlots);
    int64_t largest = 0;
    for (int s = 0; s < kNumLinearSlots; ++s) largest = std::max(largest, slot_in[s] * slot_out[s]);
    const int64_t max_blocks = (largest + kNf4Blocksize - 1) / kNf4Blocksize;
    DeviceBuffer<float> absmax(size_t(max_blocks), "NF4 block absmax (quantization scratch)");
    // A model that holds its bf16 Linear weights is quantized in place; one made without them
    // (GpuModel::random/upload with linear_weights = false) produces each weight into the
    // dequantization scratch, so the card never holds more than one bf16 Linear at a time.
    const bool held = model.holds_linear_weights();
    dequantized.resize(size_t(largest), "NF4 dequantized weight (shared)");
    bf16* params_bf16 = model.params();
    for (int64_t l = 0; l < num_layers; ++l) {
      const LayerParamOffsets& o = layout.layers[size_t(l)];
      for (int s = 0; s < kNumLinearSlots; ++s) {
        auto q = std::make_unique<Nf4Weight>();
        q->numel = slot_in[s] * slot_out[s];
        const int64_t blocks = (q->numel + kNf4Blocksize - 1) / kNf4Blocksize;
        q->packed.resize(size_t((q->numel + 1) / 2), "NF4 codes");
        q->absmax_codes.resize(size_t(blocks), "NF4 absmax codes");
        q->absmax2.resize(size_t((blocks + kNf4Blocksize2 - 1) / kNf4Blocksize2), "NF4 absmax2");
        const bf16* source = dequantized.data();
        if (held) source = params_bf16 + linear_slot_offset(o, LinearSlot(s));
        else model.linear_weight(l, LinearSlot(s), dequantized.data());
        nf4_quantize_bf16(q->packed.data(), absmax.data(), source, q->numel, kNf4Blocksize);
        q->offset = nf4_double_quantize(q->absmax_codes.data(), q->absmax2.data(), absmax.data(), code8.data(), blocks,
                                        kNf4Blocksize2);
        nf4[index(l, LinearSlot(s))] = std::move(q);
      }
    }
    model.release_linear_weights();
  }
};

GpuLora::GpuLora(GpuModel& model, const GpuLoraConfig& config) : impl_(std::make_unique<Impl>(model, config)) {
  Impl& s = *impl_;
  if (config.rank <= 0) throw Error("GPU LoRA config: rank must be a positive integer, got " + std::to_string(config.rank));
  if (!(config.alpha > 0.0) || !std::isfinite(config.alpha)) throw Error("GPU LoRA config: alpha must be > 0");
  if (!(config.dropout >= 0.0 && config.dropout < 1.0)) throw Error("GPU LoRA config: dropout must be in [0, 1)");
  if (config.targets.empty()) throw Error("GPU LoRA config: no target modules");
  std::vector<LinearSlot> targets = config.targets;
  std::sort(targets.begin(), targets.end());
  if (std::adjacent_find(targets.begin(), targets.end()) != targets.end())
    throw Error("GPU LoRA config: a target module is listed twice");

  const LlamaConfig& mc = model.config();
  s.num_layers = mc.num_layers;
  s.scaling = float(config.rslora ? config.alpha / std::sqrt(double(config.rank)) : config.alpha / double(config.rank));
  for (int i = 0; i < kNumLinearSlots; ++i) linear_slot_shape(mc, LinearSlot(i), s.slot_in[i], s.slot_out[i]);
  s.module_at.assign(size_t(s.num_layers) * kNumLinearSlots, -1);
  for (int64_t l = 0; l < s.num_layers; ++l)
    for (LinearSlot slot : targets) {
      Impl::Module mod;
      mod.layer = l;
      mod.slot = slot;
      mod.in = s.slot_in[int(slot)];
      mod.out = s.slot_out[int(slot)];
      mod.a = s.total;
      s.total += size_t(config.rank * mod.in);
      mod.b = s.total;
      s.total += size_t(mod.out * config.rank);
      s.module_at[s.index(l, slot)] = int(s.modules.size());
      s.modules.push_back(mod);
    }

  // The CPU engine's initialisation, draw for draw (train/lora.cpp): A ~ U(±1/√in) from Rng(seed),
  // computed in double and rounded to fp32, B = 0.
  std::vector<float> host(s.total, 0.0f);
  Rng rng(config.seed);
  for (const Impl::Module& mod : s.modules) {
    const double bound = 1.0 / std::sqrt(double(mod.in));
    for (int64_t i = 0; i < config.rank * mod.in; ++i) host[mod.a + size_t(i)] = float((2.0 * rng.uniform() - 1.0) * bound);
  }
  s.params.resize(s.total, "LoRA parameters (fp32)");
  s.params.upload(host.data(), host.size());
  s.grads.resize(s.total, "LoRA gradients (fp32)");
  s.params16.resize(s.total, "LoRA parameters (bf16 copy)");
  s.params16_stale = true;

  if (config.quantize_base) s.quantize_all();
  model.set_linear_override(this);
  model.set_trainable({});
}

GpuLora::~GpuLora() { impl_->model.set_linear_override(nullptr); }

bool GpuLora::overrides(int64_t layer, LinearSlot slot) const {
  const Impl& s = *impl_;
  if (layer < 0 || layer >= s.num_layers) return false;
  return s.module_at[s.index(layer, slot)] >= 0 || (!s.nf4.empty() && s.nf4[s.index(layer, slot)]);
}

void GpuLora::begin_forward(bool for_training) {
  Impl& s = *impl_;
  s.training = for_training;
  if (for_training) ++s.training_forwards;
  s.refresh_params16();
}

void GpuLora::forward(int64_t layer, LinearSlot slot, bf16* y, const bf16* x, const bf16* w, const bf16* bias,
                      int64_t n, int64_t in, int64_t out) {
  Impl& s = *impl_;
  s.check_shape(layer, slot, in, out, "forward");
  const bf16* base = s.base_weight(layer, slot, w);
  lora_detail::lora_linear_forward(y, x, base, bias, n, in, out, s.weights_of(layer, slot), s.dropout_of(layer, slot, n, in),
                                   s.scratch);
}

void GpuLora::backward(int64_t layer, LinearSlot slot, void* dx, ElementType dx_type, const bf16* dy, const bf16* x,
                       const bf16* w, int64_t n, int64_t in, int64_t out, bool accumulate) {
  Impl& s = *impl_;
  s.check_shape(layer, slot, in, out, "backward");
  const bf16* base = s.base_weight(layer, slot, w);
  lora_detail::lora_linear_backward(dx, dx_type, dy, x, base, n, in, out, accumulate, s.weights_of(layer, slot),
                                    s.dropout_of(layer, slot, n, in), s.scratch);
}

int64_t GpuLora::trainable_parameters() const { return int64_t(impl_->total); }

void GpuLora::zero_grads() { impl_->grads.zero(); }

double GpuLora::grad_sum_squares() {
  Impl& s = *impl_;
  return s.total ? sum_squares_f32(s.grads.data(), int64_t(s.total)) : 0.0;
}

void GpuLora::adamw_step(const AdamWHyper& h) {
  Impl& s = *impl_;
  if (!s.total) return;
  if (s.m.empty()) {
    s.m.resize(s.total, "LoRA AdamW m (fp32)");
    s.v.resize(s.total, "LoRA AdamW v (fp32)");
  }
  adamw_f32(s.params.data(), s.grads.data(), s.m.data(), s.v.data(), int64_t(s.total), h);
  s.params16_stale = true;
}

namespace {

// count fp32 values at `offset` of a LoRA buffer (parameters or gradients), to the host.
std::vector<float> read_floats(const DeviceBuffer<float>& from, size_t offset, int64_t count) {
  std::vector<float> out(static_cast<size_t>(count));
  copy_to_host(out.data(), from.data() + offset, out.size() * sizeof(float));
  return out;
}

}  // namespace

std::vector<float> GpuLora::download_a(int64_t layer, LinearSlot slot) const {
  const Impl& s = *impl_;
  const Impl::Module& mod = s.require(layer, slot, "download_a");
  return read_floats(s.params, mod.a, s.config.rank * mod.in);
}

std::vector<float> GpuLora::download_b(int64_t layer, LinearSlot slot) const {
  const Impl& s = *impl_;
  const Impl::Module& mod = s.require(layer, slot, "download_b");
  return read_floats(s.params, mod.b, mod.out * s.config.rank);
}

std::vector<float> GpuLora::download_grad_a(int64_t layer, LinearSlot slot) const {
  const Impl& s = *impl_;
  const Impl::Module& mod = s.require(layer, slot, "download_grad_a");
  return read_floats(s.grads, mod.a, s.config.rank * mod.in);
}

std::vector<float> GpuLora::download_grad_b(int64_t layer, LinearSlot slot) const {
  const Impl& s = *impl_;
  const Impl::Module& mod = s.require(layer, slot, "download_grad_b");
  return read_floats(s.grads, mod.b, mod.out * s.config.rank);
}

void GpuLora::upload_a(int64_t layer, LinearSlot slot, const std::vector<float>& a) {
  Impl& s = *impl_;
  const Impl::Module& mod = s.require(layer, slot, "upload_a");
  s.write_params("upload_a", mod.a, s.config.rank * mod.in, a);
}

void GpuLora::upload_b(int64_t layer, LinearSlot slot, const std::vector<float>& b) {
  Impl& s = *impl_;
  const Impl::Module& mod = s.require(layer, slot, "upload_b");
  s.write_params("upload_b", mod.b, mod.out * s.config.rank, b);
}

int64_t GpuLora::quantized_base_bytes() const {
  int64_t bytes = 0;
  for (const auto& q : impl_->nf4)
    if (q) bytes += int64_t(q->bytes());
  return bytes;
}

}  // namespace tunesmith::gpu
