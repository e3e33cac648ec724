#include "train/trainer.h"

#include <cmath>

#include "core/error.h"

namespace tunesmith {

AdamWParams adamw_params(const OptimizerOptions& options, double lr, int64_t step) {
  AdamWParams h;
  h.lr = lr;
  h.beta1 = options.beta1;
  h.beta2 = options.beta2;
  h.eps = options.eps;
  h.weight_decay = options.weight_decay;
  h.step = step;
  return h;
}

double clip_grad_norm(Backend<float>& backend, float* grads, int64_t n, double max_norm) {
  const double norm = std::sqrt(backend.sum_squares(grads, n));
  if (max_norm > 0.0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) backend.scale_inplace(grads, coef, n);
  }
  return norm;
}

double clip_grad_norm(Backend<float>& backend, const TrainableView<float>& view, double max_norm) {
  double sum_sq = 0.0;
  for (const TrainableSpan<float>& s : view) sum_sq += backend.sum_squares(s.grad, s.count);
  const double norm = std::sqrt(sum_sq);
  if (max_norm > 0.0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0)
      for (const TrainableSpan<float>& s : view) backend.scale_inplace(s.grad, coef, s.count);
  }
  return norm;
}

Trainer::Trainer(Model& model, const TrainOptions& options) : model_(model), options_(options) {
  const size_t n = size_t(model.trainable_spans().total());
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
  const TrainableView<float> spans = model_.trainable_spans();
  if (size_t(spans.total()) != exp_avg_.size())
    throw Error("the model's trainable parameters changed since the Trainer was created (adapter attached later?)");
  result.grad_norm = clip_grad_norm(backend, spans, options_.max_grad_norm);
  result.lr = options_.optimizer.lr * schedule_lr_factor(options_.schedule, step_);
  ++step_;
  const OptimizerOptions& o = options_.optimizer;
  if (o.kind == OptimizerOptions::Kind::AdamW) {
    const AdamWParams h = adamw_params(o, result.lr, step_);
    size_t at = 0;  // each span's optimizer state starts where the previous one's ended
    for (const TrainableSpan<float>& s : spans) {
      backend.adamw_step(s.data, s.grad, exp_avg_.data() + at, exp_avg_sq_.data() + at, s.count, h);
      at += size_t(s.count);
    }
  } else {
    SgdParams h;
    h.lr = result.lr;
    h.momentum = o.momentum;
    h.dampening = o.dampening;
    h.weight_decay = o.weight_decay;
    h.nesterov = o.nesterov;
    h.first_step = step_ == 1;
    size_t at = 0;
    for (const TrainableSpan<float>& s : spans) {
      backend.sgd_step(s.data, s.grad, exp_avg_.data() + at, s.count, h);
      at += size_t(s.count);
    }
  }
  result.step = step_;
  return result;
}

}  // namespace tunesmith
