#include "train/zo.h"

#include <cmath>

#include "core/error.h"
#include "train/forward_grad.h"

namespace tunesmith {
namespace {

const struct {
  ZoMethod method;
  const char* name;
} kMethodNames[] = {{ZoMethod::Sgd, "zo-sgd"},          {ZoMethod::SgdSign, "zo-sgd-sign"},
                    {ZoMethod::SgdMomentum, "zo-sgd-mmt"}, {ZoMethod::SgdConservative, "zo-sgd-cons"},
                    {ZoMethod::Adam, "zo-adam"},          {ZoMethod::ForwardGrad, "forward-grad"}};

bool is_full_model_view(Model& model, const TrainableView<float>& view) {
  const float* expected = model.parameters();
  for (const ParamSpan<float>& s : view.spans) {
    if (s.data != expected) return false;
    expected += s.count;
  }
  return expected == model.parameters() + model.num_parameters();
}

}  // namespace

const char* zo_method_name(ZoMethod method) {
  for (const auto& m : kMethodNames)
    if (m.method == method) return m.name;
  return "unknown";
}

ZoMethod parse_zo_method(const std::string& name) {
  for (const auto& m : kMethodNames)
    if (name == m.name) return m.method;
  throw Error("unknown zeroth-order method \"" + name +
              "\" (zo-sgd, zo-sgd-sign, zo-sgd-mmt, zo-sgd-cons, zo-adam, forward-grad)");
}

void validate_zo_options(const ZoOptions& o) {
  if (!(o.eps > 0)) throw Error("ZO option eps must be > 0");
  if (o.q < 1) throw Error("ZO option q must be >= 1");
  if (!(o.lr >= 0)) throw Error("ZO option lr must be >= 0");
  if (!(o.momentum >= 0 && o.momentum < 1)) throw Error("ZO option momentum must be in [0, 1)");
  if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1)) throw Error("ZO options betas must be in [0, 1)");
  if (!(o.weight_decay >= 0)) throw Error("ZO option weight_decay must be >= 0");
  if (o.method == ZoMethod::SgdConservative && o.q != 1)
    throw Error("ZO option q must be 1 for zo-sgd-cons (it compares three exact points, as ZO-Bench does)");
  if (o.method == ZoMethod::SgdConservative && o.weight_decay != 0.0)
    throw Error("ZO option weight_decay must be 0 for zo-sgd-cons (the kept point must be the probed one)");
  if (o.schedule.kind == ScheduleOptions::Kind::Cosine && o.schedule.total_steps <= 0)
    throw Error("cosine schedule needs total_steps > 0");
}

ZoTrainer::ZoTrainer(Model& model, const ZoOptions& options) : ZoTrainer(model, full_model_view(model), options) {}

ZoTrainer::ZoTrainer(Model& model, TrainableView<float> view, const ZoOptions& options)
    : model_(model), view_(std::move(view)), options_(options) {
  validate_zo_options(options);
  if (view_.total() == 0) throw Error("ZO trainer: the trainable view is empty");
  const size_t n = size_t(view_.total());
  switch (options.method) {
    case ZoMethod::SgdMomentum:
      momentum_.resize(n);
      break;
    case ZoMethod::Adam:
      exp_avg_.resize(n);
      exp_avg_sq_.resize(n);
      break;
    case ZoMethod::ForwardGrad:
      if (!is_full_model_view(model, view_))
        throw Error("forward-grad needs the full-model view (its tangent pass covers the model's own parameters)");
      tangent_.resize(n);
      break;
    default:
      break;
  }
}

int64_t ZoTrainer::state_bytes() const {
  return int64_t((momentum_.size() + exp_avg_.size() + exp_avg_sq_.size() + tangent_.size()) * sizeof(float));
}

double ZoTrainer::batch_loss(const std::vector<TrainBatch>& micro_batches) {
  double total = 0.0;
  for (const TrainBatch& b : micro_batches) total += model_.loss(b);
  return total / double(micro_batches.size());
}

ZoStepResult ZoTrainer::step(const std::vector<TrainBatch>& micro_batches) {
  if (micro_batches.empty()) throw Error("ZO step needs at least one micro-batch");
  const ZoOptions& o = options_;
  const double lr = o.lr * schedule_lr_factor(o.schedule, step_);
  if (o.method == ZoMethod::ForwardGrad) return forward_grad_step(micro_batches, lr);

  ThreadPool& pool = model_.backend().pool();
  auto loss_fn = [&] { return batch_loss(micro_batches); };
  const bool conservative = o.method == ZoMethod::SgdConservative;
  double loss_at_theta = 0.0;
  if (conservative) loss_at_theta = loss_fn();
  const ZoProbeResult probe = zo_probe(pool, view_, loss_fn, o.seed, step_, o.eps, o.q, o.one_sided, displacement_,
                                       conservative ? &loss_at_theta : nullptr);

  ZoStepResult result;
  result.lr = lr;
  result.loss = conservative ? loss_at_theta : probe.loss;
  result.projected_grads = probe.projected_grads;
  result.restore_exceptions = probe.restore_exceptions;
  // ĝ = Σ_j coef_j·z_j: the estimate as a direction, regenerated element by element.
  Direction estimate;
  for (size_t j = 0; j < probe.keys.size(); ++j) {
    double g = probe.projected_grads[j];
    result.projected_grad += g / double(o.q);
    if (o.method == ZoMethod::SgdSign) g = double((g > 0) - (g < 0));
    estimate.push_back({probe.keys[j], g / double(o.q)});
  }

  const float lr_f = float(lr), wd = float(o.weight_decay);
  switch (o.method) {
    case ZoMethod::Sgd:
    case ZoMethod::SgdSign:
      for_each_view_element(pool, view_, [&](int64_t i, float& theta) {
        theta = theta + float(-lr * (direction_value(estimate, uint64_t(i)) + o.weight_decay * double(theta)));
      });
      break;
    case ZoMethod::SgdMomentum: {  // torch.optim.SGD(momentum=μ, dampening=0)
      float* buf = momentum_.data();
      const bool first = step_ == 0;
      const float mu = float(o.momentum);
      for_each_view_element(pool, view_, [&](int64_t i, float& theta) {
        const float g = float(direction_value(estimate, uint64_t(i))) + wd * theta;
        buf[i] = first ? g : mu * buf[i] + g;
        theta -= lr_f * buf[i];
      });
      break;
    }
    case ZoMethod::Adam: {  // torch.optim.Adam (L2 weight decay), same arithmetic as the AdamW kernel
      const int64_t t = step_ + 1;
      const float step_size = float(lr / (1.0 - std::pow(o.beta1, double(t))));
      const float bias2_sqrt = float(std::sqrt(1.0 - std::pow(o.beta2, double(t))));
      const float b1 = float(o.beta1), b2 = float(o.beta2), eps = float(o.adam_eps);
      float* m = exp_avg_.data();
      float* v = exp_avg_sq_.data();
      for_each_view_element(pool, view_, [&](int64_t i, float& theta) {
        const float g = float(direction_value(estimate, uint64_t(i))) + wd * theta;
        m[i] = m[i] * b1 + (1.0f - b1) * g;
        v[i] = v[i] * b2 + (1.0f - b2) * g * g;
        theta -= step_size * (m[i] / (std::sqrt(v[i]) / bias2_sqrt + eps));
      });
      break;
    }
    case ZoMethod::SgdConservative: {
      // Candidates θ − lr·ĝ and θ + lr·ĝ, each probed and undone exactly; the kept one is then
      // re-applied with the same arithmetic, so θ becomes exactly the point whose loss was seen.
      Direction down = estimate, up = estimate;
      for (DirectionTerm& term : down) term.coef *= -lr;
      for (DirectionTerm& term : up) term.coef *= lr;
      displacement_.apply(pool, view_, down);
      const double loss_down = loss_fn();
      displacement_.undo(pool, view_);
      displacement_.apply(pool, view_, up);
      const double loss_up = loss_fn();
      displacement_.undo(pool, view_);
      if (loss_down < loss_at_theta && loss_down <= loss_up) {
        displace(pool, view_, down);
        result.conservative_choice = -1;
      } else if (loss_up < loss_at_theta) {
        displace(pool, view_, up);
        result.conservative_choice = 1;
      }
      break;
    }
    case ZoMethod::ForwardGrad:
      break;
  }
  ++step_;
  result.step = step_;
  return result;
}

ZoStepResult ZoTrainer::forward_grad_step(const std::vector<TrainBatch>& micro_batches, double lr) {
  const ZoOptions& o = options_;
  ThreadPool& pool = model_.backend().pool();
  ZoStepResult result;
  result.lr = lr;
  Direction estimate;
  std::vector<std::vector<int32_t>> targets;
  for (const TrainBatch& b : micro_batches) targets.push_back(make_targets(b));
  for (int64_t j = 0; j < o.q; ++j) {
    const uint64_t key = perturbation_key(o.seed, step_, j);
    float* tangent = tangent_.data();
    pool.parallel_for(int64_t(tangent_.size()), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) tangent[i] = counter_normal(key, uint64_t(i));
    });
    double jvp = 0.0, loss = 0.0;
    for (size_t m = 0; m < micro_batches.size(); ++m) {
      const TrainBatch& b = micro_batches[m];
      const JvpResult r = loss_jvp(model_.transformer(), tangent, b.tokens.data(), targets[m].data(), b.batch, b.seq);
      jvp += r.directional_derivative / double(micro_batches.size());
      loss += r.loss / double(micro_batches.size());
    }
    if (j == 0) result.loss = loss;
    result.projected_grads.push_back(jvp);
    result.projected_grad += jvp / double(o.q);
    estimate.push_back({key, jvp / double(o.q)});
  }
  for_each_view_element(pool, view_, [&](int64_t i, float& theta) {
    theta = theta + float(-lr * (direction_value(estimate, uint64_t(i)) + o.weight_decay * double(theta)));
  });
  ++step_;
  result.step = step_;
  return result;
}

}  // namespace tunesmith
