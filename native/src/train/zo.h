// The zeroth-order family (MeZO and ZO-Bench), over a trainable view (train/trainable_view.h):
//
//   Sgd            MeZO ZO-SGD: ĝ = g·z with g = (L(θ+εz) − L(θ−εz)) / 2ε; θ ← θ − lr·(ĝ + wd·θ)
//   SgdSign        ZO-SGD-Sign: the sign of the scalar g, i.e. ĝ = sign(g)·z (ZO-Bench zo_sign_opt)
//   SgdMomentum    ZO-SGD-MMT: SGD momentum on ĝ (buf ← ĝ first, then μ·buf + ĝ); +1 buffer
//   SgdConservative ZO-SGD-Cons: L(θ), L(θ−lr·ĝ), L(θ+lr·ĝ): keep the lowest (rejects a step that
//                  does not lower the loss); 5 forward passes; q = 1, no weight decay
//   Adam           ZO-Adam: torch.optim.Adam (L2 weight decay) on ĝ; +2 buffers
//   ForwardGrad    ĝ = ⟨∇L, v⟩·v with the JVP computed exactly by a tangent-carrying forward pass
//                  (train/forward_grad.h); v ~ N(0, I) is materialised (+1 buffer, like ZO-Bench)
//
// Probes: z for step t and query j regenerates from (seed, t, j) (core/counter_rng.h) and is
// never stored. q > 1 averages the q estimates: ĝ = (1/q)·Σ_j g_j·z_j. one_sided uses
// (L(θ+εz) − L(θ))/ε. After every probe θ is restored bit for bit (train/zo_perturbation.h);
// with exact restore there is no fp drift from probing, only from the update itself.
//
// No gradient buffer is ever allocated (Model::gradients() stays null). Probe losses run the
// model in inference mode; there is no dropout in the engine, so the loss is deterministic.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/memory.h"
#include "model/model.h"
#include "train/schedule.h"
#include "train/trainer.h"
#include "train/trainable_view.h"
#include "train/zo_perturbation.h"

namespace tunesmith {

enum class ZoMethod { Sgd, SgdSign, SgdMomentum, SgdConservative, Adam, ForwardGrad };
const char* zo_method_name(ZoMethod method);  // "zo-sgd", "zo-sgd-sign", ...
ZoMethod parse_zo_method(const std::string& name);  // inverse; throws naming the value

struct ZoOptions {
  ZoMethod method = ZoMethod::Sgd;
  double eps = 1e-3;       // perturbation scale ε
  int64_t q = 1;           // queries (directions) per step, averaged
  bool one_sided = false;  // (L(θ+εz) − L(θ))/ε instead of the central difference
  double lr = 1e-6;
  double momentum = 0.9;                              // SgdMomentum
  double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;  // Adam
  double weight_decay = 0.0;
  uint64_t seed = 0;  // perturbation seed
  ScheduleOptions schedule;
};

// Throws tunesmith::Error naming the field on an invalid combination.
void validate_zo_options(const ZoOptions& options);

struct ZoStepResult : StepResult {
  // loss: L(θ) for one-sided, conservative and forward-grad; else mean of (L+ + L−)/2 over queries.
  std::vector<double> projected_grads;  // per query: g_j (or the exact JVP for ForwardGrad)
  double projected_grad = 0.0;          // mean of projected_grads
  int conservative_choice = 0;          // SgdConservative: 0 kept θ, −1 took θ−lr·ĝ, +1 took θ+lr·ĝ
  int64_t restore_exceptions = 0;       // elements restored from the sparse exception list
};

// The probe shared by every finite-difference method; templated so float64 tests run the very
// code the engine runs. loss_fn evaluates the loss at the current θ of `view`.
struct ZoProbeResult {
  std::vector<double> projected_grads;
  std::vector<uint64_t> keys;  // perturbation key of each query
  double loss = 0.0;           // as ZoStepResult::loss
  int64_t restore_exceptions = 0;
};
template <typename T, typename LossFn>
ZoProbeResult zo_probe(ThreadPool& pool, TrainableView<T>& view, const LossFn& loss_fn, uint64_t seed, int64_t step,
                       double eps, int64_t q, bool one_sided, ExactDisplacement<T>& displacement,
                       const double* loss_at_theta = nullptr) {
  ZoProbeResult r;
  const double base = one_sided ? (loss_at_theta ? *loss_at_theta : loss_fn()) : 0.0;
  for (int64_t j = 0; j < q; ++j) {
    const uint64_t key = perturbation_key(seed, step, j);
    displacement.apply(pool, view, {{key, eps}});
    const double plus = loss_fn();
    r.restore_exceptions += displacement.exception_count();
    displacement.undo(pool, view);
    double g;
    if (one_sided) {
      g = (plus - base) / eps;
    } else {
      displacement.apply(pool, view, {{key, -eps}});
      const double minus = loss_fn();
      r.restore_exceptions += displacement.exception_count();
      displacement.undo(pool, view);
      g = (plus - minus) / (2.0 * eps);
      r.loss += 0.5 * (plus + minus) / double(q);
    }
    r.projected_grads.push_back(g);
    r.keys.push_back(key);
  }
  if (one_sided) r.loss = base;
  return r;
}

class ZoTrainer {
 public:
  // Trains every parameter of the model.
  ZoTrainer(Model& model, const ZoOptions& options);
  // Trains the given view (e.g. LoRA adapters). ForwardGrad needs the full-model view.
  ZoTrainer(Model& model, TrainableView<float> view, const ZoOptions& options);

  // One ZO step on the mean loss of the micro-batches (they form one batch; no accumulation).
  ZoStepResult step(const std::vector<TrainBatch>& micro_batches);

  int64_t steps_done() const { return step_; }
  const ZoOptions& options() const { return options_; }
  const TrainableView<float>& view() const { return view_; }
  // Bytes of method state (momentum, Adam moments, forward-grad tangent; not the probe codes).
  int64_t state_bytes() const;

 private:
  friend struct CheckpointAccess;

  double batch_loss(const std::vector<TrainBatch>& micro_batches);
  ZoStepResult forward_grad_step(const std::vector<TrainBatch>& micro_batches, double lr);

  Model& model_;
  TrainableView<float> view_;
  ZoOptions options_;
  ExactDisplacement<float> displacement_;
  TrackedBuffer<float> momentum_;              // SgdMomentum
  TrackedBuffer<float> exp_avg_, exp_avg_sq_;  // Adam
  TrackedBuffer<float> tangent_;               // ForwardGrad
  int64_t step_ = 0;
};

}  // namespace tunesmith
