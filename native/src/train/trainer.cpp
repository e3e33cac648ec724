#include "train/trainer.h"

#include <cmath>

#include "core/error.h"

namespace tunesmith {

double clip_grad_norm(Backend<float>& backend, float* grads, int64_t n, double max_norm) {
  const double norm = std::sqrt(backend.sum_squares(grads, n));
  if (max_norm > 0.0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) backend.scale_inplace(grads, coef, n);
  }
  return norm;
}

Trainer::Trainer(Model& model, const TrainOptions& options) : model_(model), options_(options) {
  const size_t n = model.num_parameters();
  if (!(options.optimizer.lr >= 0)) throw Error("learning rate must be >= 0");
  if (options.schedule.kind == ScheduleOptions::Kind::Cosine && options.schedule.total_steps <= 0)
    throw Error("cosine schedule needs total_steps > 0");
  exp_avg_.resize(n);
  if (options.optimizer.kind == OptimizerOptions::Kind::AdamW) exp_avg_sq_.resize(n);
}

StepResult Trainer::step(const std::vector<TrainBatch>& micro_batches) {
  if (micro_batches.empty()) throw Error("train step needs at least one micro-batch");
  model_.zero_gradients();
  StepResult result;
  const double scale = 1.0 / double(micro_batches.size());
  for (const TrainBatch& b : micro_batches) result.loss += model_.forward_backward(b, scale) * scale;

  Backend<float>& backend = model_.backend();
  const int64_t n = int64_t(model_.num_parameters());
  float* grads = model_.gradients();
  result.grad_norm = clip_grad_norm(backend, grads, n, options_.max_grad_norm);
  result.lr = options_.optimizer.lr * schedule_lr_factor(options_.schedule, step_);
  ++step_;
  const OptimizerOptions& o = options_.optimizer;
  if (o.kind == OptimizerOptions::Kind::AdamW) {
    AdamWParams h;
    h.lr = result.lr;
    h.beta1 = o.beta1;
    h.beta2 = o.beta2;
    h.eps = o.eps;
    h.weight_decay = o.weight_decay;
    h.step = step_;
    backend.adamw_step(model_.parameters(), grads, exp_avg_.data(), exp_avg_sq_.data(), n, h);
  } else {
    SgdParams h;
    h.lr = result.lr;
    h.momentum = o.momentum;
    h.dampening = o.dampening;
    h.weight_decay = o.weight_decay;
    h.nesterov = o.nesterov;
    h.first_step = step_ == 1;
    backend.sgd_step(model_.parameters(), grads, exp_avg_.data(), n, h);
  }
  result.step = step_;
  return result;
}

}  // namespace tunesmith
