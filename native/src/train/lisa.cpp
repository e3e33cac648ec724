#include "train/lisa.h"

#include <algorithm>
#include <numeric>

#include "core/counter_rng.h"
#include "core/error.h"
#include "core/rng.h"

namespace tunesmith {

void validate_lisa_options(const LisaOptions& o, int64_t num_layers) {
  if (o.gamma < 0 || o.gamma > num_layers)
    throw Error("LISA option gamma = " + std::to_string(o.gamma) + " must be between 0 and the model's " +
                std::to_string(num_layers) + " layers");
  if (o.period_k < 1) throw Error("LISA option period_k = " + std::to_string(o.period_k) + " must be >= 1");
}

std::vector<int64_t> lisa_active_layers(const LisaOptions& o, int64_t num_layers, int64_t step) {
  validate_lisa_options(o, num_layers);
  if (step < 0) throw Error("lisa_active_layers: step must be >= 0");
  // One independent generator per interval, keyed by (seed, interval): no state to carry, so any
  // step's layers are known without replaying the run.
  const int64_t interval = step / o.period_k;
  Rng rng(splitmix64_mix(o.seed ^ splitmix64_mix(uint64_t(interval) + kWeylGamma)));
  std::vector<int64_t> layers(static_cast<size_t>(num_layers));
  std::iota(layers.begin(), layers.end(), 0);
  // Partial Fisher-Yates: the first gamma entries are a uniform sample without replacement.
  for (int64_t i = 0; i < o.gamma; ++i) {
    const int64_t j = i + std::min<int64_t>(num_layers - i - 1, int64_t(rng.uniform() * double(num_layers - i)));
    std::swap(layers[size_t(i)], layers[size_t(j)]);
  }
  layers.resize(size_t(o.gamma));
  std::sort(layers.begin(), layers.end());
  return layers;
}

LisaTrainer::LisaTrainer(Model& model, const LisaOptions& lisa, const TrainOptions& train)
    : model_(model), lisa_(lisa), options_(train) {
  const LlamaConfig& c = model.config();
  validate_lisa_options(lisa, c.num_layers);
  if (model.adapter()) throw Error("LISA trains the base model's layers; it cannot run with an adapter (LoRA) attached");
  if (train.optimizer.kind != OptimizerOptions::Kind::AdamW) throw Error("LISA needs the AdamW optimizer");
  if (!(train.optimizer.lr >= 0)) throw Error("learning rate must be >= 0");
  if (train.schedule.kind == ScheduleOptions::Kind::Cosine && train.schedule.total_steps <= 0)
    throw Error("cosine schedule needs total_steps > 0");
  const ParameterLayout& layout = model.layout();
  const size_t always = layout.total - (c.num_layers > 0 ? layer_count(0) * size_t(c.num_layers) : 0);
  grads_.resize(always + (c.num_layers > 0 ? size_t(lisa.gamma) * layer_count(0) : 0));
}

LisaTrainer::~LisaTrainer() { model_.transformer().clear_gradient_routes(); }

size_t LisaTrainer::layer_offset(int64_t layer) const { return model_.layout().layers[size_t(layer)].input_norm; }

size_t LisaTrainer::layer_count(int64_t layer) const {
  const ParameterLayout& layout = model_.layout();
  const size_t end = layer + 1 < int64_t(layout.layers.size()) ? layer_offset(layer + 1) : layout.final_norm;
  return end - layer_offset(layer);
}

void LisaTrainer::switch_to(const std::vector<int64_t>& layers) {
  const ParameterLayout& layout = model_.layout();
  if (regions_.empty()) {  // first step: the always-trained ranges get their state once
    const size_t first_layer = layout.layers.empty() ? layout.final_norm : layer_offset(0);
    for (auto range : {std::pair<size_t, size_t>{layout.embed, first_layer - layout.embed},
                       std::pair<size_t, size_t>{layout.final_norm, layout.total - layout.final_norm}}) {
      Region r;
      r.offset = range.first;
      r.count = range.second;
      r.exp_avg.resize(r.count);
      r.exp_avg_sq.resize(r.count);
      regions_.push_back(std::move(r));
    }
  }
  // Free the leaving layers first, then allocate the entering ones, so the peak never holds both.
  std::vector<Region> kept;
  for (Region& r : regions_)
    if (r.layer < 0 || std::find(layers.begin(), layers.end(), r.layer) != layers.end()) kept.push_back(std::move(r));
  regions_ = std::move(kept);
  for (int64_t layer : layers) {
    const bool present =
        std::any_of(regions_.begin(), regions_.end(), [&](const Region& r) { return r.layer == layer; });
    if (present) continue;
    Region r;
    r.layer = layer;
    r.offset = layer_offset(layer);
    r.count = layer_count(layer);
    r.exp_avg.resize(r.count);  // fresh: m = v = 0, step 0
    r.exp_avg_sq.resize(r.count);
    regions_.push_back(std::move(r));
  }
  std::stable_sort(regions_.begin(), regions_.end(), [](const Region& a, const Region& b) {
    if ((a.layer < 0) != (b.layer < 0)) return a.layer < 0;
    return a.layer < b.layer;
  });
  install_routes();
}

void LisaTrainer::install_routes() {
  std::vector<Transformer<float>::GradientRoute> routes;
  size_t slot = 0;
  for (Region& r : regions_) {
    r.grad_offset = slot;
    slot += r.count;
    routes.push_back({r.offset, r.count, grads_.data() + r.grad_offset});
  }
  if (slot > grads_.size()) throw Error("LISA: active parameters exceed the gradient buffer (internal error)");
  model_.transformer().set_gradient_routes(std::move(routes));
}

LisaStepResult LisaTrainer::step(const std::vector<TrainBatch>& micro_batches) {
  if (micro_batches.empty()) throw Error("train step needs at least one micro-batch");
  LisaStepResult result;
  if (regions_.empty() || step_ % lisa_.period_k == 0) {
    switch_to(lisa_active_layers(lisa_, model_.config().num_layers, step_));
    result.switched = true;
  }
  grads_.zero();
  const double scale = 1.0 / double(micro_batches.size());
  for (const TrainBatch& b : micro_batches) result.loss += model_.forward_backward(b, scale) * scale;

  Backend<float>& backend = model_.backend();
  result.grad_norm = clip_grad_norm(backend, grads_.data(), int64_t(grads_.size()), options_.max_grad_norm);
  result.lr = options_.optimizer.lr * schedule_lr_factor(options_.schedule, step_);
  ++step_;
  const OptimizerOptions& o = options_.optimizer;
  for (Region& r : regions_) {
    const AdamWParams h = adamw_params(o, result.lr, ++r.adam_step);
    backend.adamw_step(model_.parameters() + r.offset, grads_.data() + r.grad_offset, r.exp_avg.data(),
                       r.exp_avg_sq.data(), int64_t(r.count), h);
  }
  result.step = step_;
  result.active_layers = active_layers();
  return result;
}

std::vector<int64_t> LisaTrainer::active_layers() const {
  std::vector<int64_t> layers;
  for (const Region& r : regions_)
    if (r.layer >= 0) layers.push_back(r.layer);
  return layers;
}

int64_t LisaTrainer::active_parameter_count() const {
  int64_t n = 0;
  for (const Region& r : regions_) n += int64_t(r.count);
  return n;
}

int64_t LisaTrainer::optimizer_state_bytes() const {
  int64_t bytes = 0;
  for (const Region& r : regions_) bytes += int64_t((r.exp_avg.size() + r.exp_avg_sq.size()) * sizeof(float));
  return bytes;
}

int64_t LisaTrainer::layer_adam_step(int64_t layer) const {
  for (const Region& r : regions_)
    if (r.layer == layer) return r.adam_step;
  return -1;
}

}  // namespace tunesmith
