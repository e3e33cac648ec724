// GpuTrainer: one optimizer step per call on a GpuModel. The learning-rate schedule, LISA's layer
// sampling and ZO's perturbation keys are the CPU engine's own functions (train/schedule.h,
// train/lisa.h, core/counter_rng.h), so a GPU run follows the same schedule, trains the same
// layers at the same steps and draws its perturbations from the same per-step keys.
#include "gpu/train/gpu_trainer.h"

#include <algorithm>
#include <cmath>

#include "core/counter_rng.h"
#include "core/error.h"
#include "gpu/ops.h"
#include "gpu/train/gpu_lora.h"
#include "train/lisa.h"
#include "train/schedule.h"

namespace tunesmith::gpu {

const char* gpu_method_name(GpuMethod m) {
  switch (m) {
    case GpuMethod::Full: return "full";
    case GpuMethod::Lisa: return "lisa";
    case GpuMethod::Lora: return "lora";
    case GpuMethod::Qlora: return "qlora";
    case GpuMethod::ZoSgd: return "zo-sgd";
  }
  return "unknown";
}

GpuMethod parse_gpu_method(const std::string& name) {
  for (GpuMethod m : {GpuMethod::Full, GpuMethod::Lisa, GpuMethod::Lora, GpuMethod::Qlora, GpuMethod::ZoSgd})
    if (name == gpu_method_name(m)) return m;
  throw Error("unknown GPU training method \"" + name + "\" (expected full, lisa, lora, qlora or zo-sgd)");
}

struct GpuTrainer::Impl {
  GpuModel& model;
  GpuTrainConfig config;
  ScheduleOptions schedule;
  int64_t step = 0;  // optimizer steps done

  // A contiguous parameter range trained as one unit (full: the whole model; LISA: the embedding,
  // the norm + head, each active layer), with its AdamW moments and its own step count (a LISA
  // layer switched on again starts fresh, as on the CPU).
  struct Region {
    int64_t layer = -1;
    size_t offset = 0, count = 0;
    DeviceBuffer<float> m32, v32;
    DeviceBuffer<bf16> m16, v16;
    int64_t adam_step = 0;
  };
  std::vector<Region> regions;
  std::unique_ptr<GpuLora> lora;

  Impl(GpuModel& m, const GpuTrainConfig& c) : model(m), config(c) {}

  bool is_lisa() const { return config.method == GpuMethod::Lisa; }
  LisaOptions lisa_options() const {
    LisaOptions o;
    o.gamma = config.lisa_layers;
    o.period_k = config.lisa_interval;
    o.seed = config.seed;
    return o;
  }
  size_t layer_offset(int64_t layer) const { return model.layout().layers[size_t(layer)].input_norm; }
  size_t layer_count(int64_t layer) const {
    const ParameterLayout& layout = model.layout();
    const size_t end = layer + 1 < int64_t(layout.layers.size()) ? layer_offset(layer + 1) : layout.final_norm;
    return end - layer_offset(layer);
  }

  Region make_region(int64_t layer, size_t offset, size_t count) const {
    Region r;
    r.layer = layer;
    r.offset = offset;
    r.count = count;
    if (config.bf16_optimizer_states) {
      r.m16.resize(count, "AdamW m (bf16)");
      r.v16.resize(count, "AdamW v (bf16)");
    } else {
      r.m32.resize(count, "AdamW m");
      r.v32.resize(count, "AdamW v");
    }
    return r;
  }

  void install_trainable() {
    std::vector<ParamRange> ranges;
    for (const Region& r : regions) ranges.push_back({r.offset, r.count});
    model.set_trainable(ranges);
  }

  // LISA: free the state (and gradients) of layers leaving the active set before allocating the
  // entering ones, so the peak never holds both.
  void lisa_switch(const std::vector<int64_t>& layers) {
    const ParameterLayout& layout = model.layout();
    if (regions.empty()) {
      const size_t first_layer = layout.layers.empty() ? layout.final_norm : layer_offset(0);
      regions.push_back(make_region(-1, layout.embed, first_layer - layout.embed));
      regions.push_back(make_region(-1, layout.final_norm, layout.total - layout.final_norm));
    }
    std::vector<Region> kept;
    for (Region& r : regions)
      if (r.layer < 0 || std::find(layers.begin(), layers.end(), r.layer) != layers.end()) kept.push_back(std::move(r));
    regions = std::move(kept);
    {  // drop leaving layers' gradients now
      std::vector<ParamRange> ranges;
      for (const Region& r : regions) ranges.push_back({r.offset, r.count});
      model.set_trainable(ranges);
    }
    for (int64_t layer : layers) {
      const bool present = std::any_of(regions.begin(), regions.end(), [&](const Region& r) { return r.layer == layer; });
      if (!present) regions.push_back(make_region(layer, layer_offset(layer), layer_count(layer)));
    }
    std::stable_sort(regions.begin(), regions.end(), [](const Region& a, const Region& b) {
      if ((a.layer < 0) != (b.layer < 0)) return a.layer < 0;
      return a.layer < b.layer;
    });
    install_trainable();
  }

  AdamWHyper hyper(double lr, int64_t adam_step, double grad_scale) const {
    AdamWHyper h;
    h.lr = float(lr);
    h.beta1 = float(config.beta1);
    h.beta2 = float(config.beta2);
    h.eps = float(config.eps);
    h.weight_decay = float(config.weight_decay);
    h.step = adam_step;
    h.grad_scale = float(grad_scale);
    return h;
  }

  double clip_scale(double norm) const {
    if (config.max_grad_norm <= 0.0) return 1.0;
    return std::min(1.0, config.max_grad_norm / (norm + 1e-6));
  }
};

GpuTrainer::GpuTrainer(GpuModel& model, const GpuTrainConfig& config) : impl_(std::make_unique<Impl>(model, config)) {
  Impl& t = *impl_;
  if (!(config.lr >= 0)) throw Error("learning rate must be >= 0");
  if (config.warmup_steps < 0 || config.total_steps < 0) throw Error("warmup_steps and total_steps must be >= 0");
  if (config.total_steps > 0) t.schedule.kind = ScheduleOptions::Kind::Cosine;
  else if (config.warmup_steps > 0) t.schedule.kind = ScheduleOptions::Kind::ConstantWithWarmup;
  t.schedule.warmup_steps = config.warmup_steps;
  t.schedule.total_steps = config.total_steps;
  model.set_checkpointing(config.checkpointing);
  switch (config.method) {
    case GpuMethod::Full:
      t.regions.push_back(t.make_region(-1, 0, model.layout().total));
      t.install_trainable();
      break;
    case GpuMethod::Lisa:
      validate_lisa_options(t.lisa_options(), model.config().num_layers);
      model.set_trainable({});  // allocated by the first step, for the sampled layers only
      break;
    case GpuMethod::Lora:
    case GpuMethod::Qlora: {
      GpuLoraConfig lc;
      lc.rank = config.lora_rank;
      lc.alpha = config.lora_alpha;
      lc.rslora = config.rslora;
      lc.dropout = config.lora_dropout;
      lc.targets = config.lora_targets;
      lc.quantize_base = config.method == GpuMethod::Qlora;
      lc.seed = config.seed;
      t.lora = std::make_unique<GpuLora>(model, lc);
      break;
    }
    case GpuMethod::ZoSgd:
      if (!(config.zo_eps > 0)) throw Error("zo_eps must be > 0");
      model.set_trainable({});  // ZO keeps no gradients
      break;
  }
}

GpuTrainer::~GpuTrainer() {
  impl_->lora.reset();  // detaches from the model
  if (impl_->config.method != GpuMethod::Lora && impl_->config.method != GpuMethod::Qlora) impl_->model.set_trainable({});
}

const GpuTrainConfig& GpuTrainer::config() const { return impl_->config; }

int64_t GpuTrainer::trainable_parameters() const {
  const Impl& t = *impl_;
  switch (t.config.method) {
    case GpuMethod::Full:
    case GpuMethod::ZoSgd:
      return int64_t(t.model.layout().total);
    case GpuMethod::Lora:
    case GpuMethod::Qlora:
      return t.lora->trainable_parameters();
    case GpuMethod::Lisa: {
      const ParameterLayout& layout = t.model.layout();
      const int64_t L = int64_t(layout.layers.size());
      const size_t always = layout.total - (L > 0 ? t.layer_count(0) * size_t(L) : 0);
      return int64_t(always + (L > 0 ? size_t(t.config.lisa_layers) * t.layer_count(0) : 0));
    }
  }
  return 0;
}

GpuStepResult GpuTrainer::step(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq) {
  Impl& t = *impl_;
  GpuModel& model = t.model;
  const GpuTrainConfig& c = t.config;
  GpuStepResult result;
  result.lr = c.lr * schedule_lr_factor(t.schedule, t.step);
  const uint64_t rounding_seed = c.seed + uint64_t(t.step);

  if (c.method == GpuMethod::ZoSgd) {
    // Two forward passes on θ ± eps·z, z keyed on the flat offset; θ itself is never touched.
    const uint64_t seed_t = perturbation_key(c.seed, t.step, 0);
    GpuPerturbation plus{float(c.zo_eps), seed_t}, minus{float(-c.zo_eps), seed_t};
    const double loss_plus = model.loss(tokens, targets, batch, seq, &plus);
    const double loss_minus = model.loss(tokens, targets, batch, seq, &minus);
    const double g = (loss_plus - loss_minus) / (2.0 * c.zo_eps);
    // θ -= lr·g·z over the whole flat buffer (z depends only on the offset, so one call is the
    // same as one per tensor).
    if (result.lr * g != 0.0)
      zo_update_bf16(model.params(), int64_t(model.layout().total), float(result.lr * g), seed_t, 0, rounding_seed);
    result.loss = loss_plus;
    result.grad_norm = std::fabs(g);
  } else if (c.method == GpuMethod::Lora || c.method == GpuMethod::Qlora) {
    t.lora->zero_grads();
    result.loss = model.forward_backward(tokens, targets, batch, seq, 1.0);
    result.grad_norm = std::sqrt(t.lora->grad_sum_squares());
    t.lora->adamw_step(t.hyper(result.lr, t.step + 1, t.clip_scale(result.grad_norm)));
  } else {
    if (t.is_lisa() && (t.regions.empty() || t.step % c.lisa_interval == 0))
      t.lisa_switch(lisa_active_layers(t.lisa_options(), model.config().num_layers, t.step));
    model.zero_grads();
    result.loss = model.forward_backward(tokens, targets, batch, seq, 1.0);
    result.grad_norm = std::sqrt(model.grad_sum_squares());
    const double scale = t.clip_scale(result.grad_norm);
    for (Impl::Region& r : t.regions) {
      const float* grad = model.grad_of_range(r.offset);
      if (!grad) throw Error("GpuTrainer: a trained range has no gradient storage (internal error)");
      adamw_bf16(model.params() + r.offset, grad, r.m32.data(), r.v32.data(), r.m16.data(), r.v16.data(),
                 int64_t(r.count), t.hyper(result.lr, ++r.adam_step, scale), rounding_seed, uint64_t(r.offset));
    }
    for (const Impl::Region& r : t.regions)
      if (r.layer >= 0) result.active_layers.push_back(r.layer);
  }
  ++t.step;
  result.step = t.step;
  sample_driver_memory();
  return result;
}

}  // namespace tunesmith::gpu
