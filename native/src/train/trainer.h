// One optimizer step = gradient accumulation over micro-batches, optional global-norm clipping
// (torch.nn.utils.clip_grad_norm_ semantics), the learning-rate schedule, then AdamW or SGD with
// PyTorch semantics on every trainable parameter (Model::trainable_spans: all parameters, or
// an adapter's parameters plus whatever base parameters it leaves trainable).
#pragma once
#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/memory.h"
#include "model/model.h"
#include "train/schedule.h"

namespace tunesmith {

struct OptimizerOptions {
  enum class Kind { AdamW, Sgd };
  Kind kind = Kind::AdamW;
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // AdamW
  double weight_decay = 0.0;                      // AdamW: decoupled; SGD: L2 added to the gradient
  double momentum = 0.0, dampening = 0.0;         // SGD
  bool nesterov = false;                          // SGD
};

struct TrainOptions {
  OptimizerOptions optimizer;
  ScheduleOptions schedule;
  double max_grad_norm = 0.0;  // 0: no clipping
};

struct StepResult {
  double loss = 0.0;       // mean of the micro-batch losses
  double grad_norm = 0.0;  // global L2 norm before clipping
  double lr = 0.0;         // learning rate used for this step
  int64_t step = 0;        // optimizer steps done, including this one
};

// Global L2 norm of grads; when max_norm > 0 and the norm exceeds it, scales grads by
// max_norm / (norm + 1e-6) as PyTorch does. Returns the norm before clipping.
double clip_grad_norm(Backend<float>& backend, float* grads, int64_t n, double max_norm);

// The backend's AdamW hyper-parameters for one step at learning rate `lr` (bias correction uses
// the 1-based `step`), shared by every trainer that runs AdamW.
AdamWParams adamw_params(const OptimizerOptions& options, double lr, int64_t step);
// The same over several gradient buffers taken together (one global norm).
double clip_grad_norm(Backend<float>& backend, const TrainableView<float>& view, double max_norm);

class Trainer {
 public:
  // Attach any adapter to the model before constructing the Trainer: optimizer state is sized to
  // the model's trainable spans at this point.
  Trainer(Model& model, const TrainOptions& options);

  // Each micro-batch's mean loss is scaled by 1/micro_batches.size() (the usual gradient
  // accumulation, as transformers does with equal-sized micro-batches).
  StepResult step(const std::vector<TrainBatch>& micro_batches);
  int64_t steps_done() const { return step_; }

 private:
  friend struct CheckpointAccess;  // train/checkpoint.cpp saves and restores the optimizer state
  Model& model_;
  TrainOptions options_;
  TrackedBuffer<float> exp_avg_, exp_avg_sq_;  // AdamW moments, or SGD momentum in exp_avg_
  int64_t step_ = 0;
};

}  // namespace tunesmith
