// LISA (Layerwise Importance Sampled AdamW, arXiv 2403.17919): the embedding, the final norm and
// the LM head always train; every `period_k` steps, `gamma` of the decoder layers are sampled
// uniformly without replacement and train until the next switch; the other layers are frozen.
//
// Unlike LMFlow's callback (which only flips requires_grad, so AdamW state of every layer ever
// touched stays allocated — LMFlow issue #768), this trainer holds AdamW state only for what is
// active: a layer's moments are freed when it is switched off and start fresh (m = v = 0,
// step = 0) when it is switched on again; a layer that stays active across a switch keeps its
// state, as do the embedding, final norm and head. Frozen layers get no weight gradient at all:
// the model routes gradients into one compact buffer sized for the active set (transformer.h
// gradient routes), and the model's full gradient buffer is never allocated.
//
// The schedule is a pure function of (seed, interval), so the UI can show which layers train at
// any step, and a resumed run samples exactly what the uninterrupted run sampled.
#pragma once
#include <cstdint>
#include <vector>

#include "core/memory.h"
#include "model/model.h"
#include "train/trainer.h"

namespace tunesmith {

struct LisaOptions {
  int64_t gamma = 2;      // decoder layers trained at a time (LMFlow --lisa_activated_layers)
  int64_t period_k = 20;  // steps between switches (LMFlow --lisa_interval_steps)
  uint64_t seed = 0;      // layer sampling seed
};

// Throws tunesmith::Error naming the field when gamma is not in [0, num_layers] or period_k < 1.
void validate_lisa_options(const LisaOptions& options, int64_t num_layers);

// Decoder layers active during optimizer step `step` (0-based), ascending. Layers are resampled
// at steps 0, K, 2K, ... exactly as LMFlow's on_step_begin does.
std::vector<int64_t> lisa_active_layers(const LisaOptions& options, int64_t num_layers, int64_t step);

struct LisaStepResult : StepResult {
  std::vector<int64_t> active_layers;  // decoder layers trained in this step
  bool switched = false;               // this step began a new sampling interval
};

class LisaTrainer {
 public:
  // train.optimizer must be AdamW (LISA is defined on AdamW). Allocates the compact gradient
  // buffer; optimizer state is allocated by the first step.
  LisaTrainer(Model& model, const LisaOptions& lisa, const TrainOptions& train);
  ~LisaTrainer();
  LisaTrainer(const LisaTrainer&) = delete;
  LisaTrainer& operator=(const LisaTrainer&) = delete;

  // Same accumulation, clipping (global norm over the active parameters) and schedule as Trainer.
  LisaStepResult step(const std::vector<TrainBatch>& micro_batches);

  int64_t steps_done() const { return step_; }
  const LisaOptions& lisa_options() const { return lisa_; }
  const TrainOptions& train_options() const { return options_; }
  // Layers holding optimizer state now (the active set of the last step; empty before the first).
  std::vector<int64_t> active_layers() const;
  // Parameters trained now: embedding + final norm + head + active layers.
  int64_t active_parameter_count() const;
  // Bytes of AdamW moments held now (2 × 4 × active_parameter_count() once state exists).
  int64_t optimizer_state_bytes() const;
  // AdamW step count of a decoder layer's state, or -1 when the layer holds no state.
  int64_t layer_adam_step(int64_t layer) const;

 private:
  friend struct CheckpointAccess;

  // A contiguous parameter range trained as one unit, with its own AdamW state and step count.
  struct Region {
    int64_t layer = -1;  // decoder layer, or -1 for the always-trained embedding / norm+head ranges
    size_t offset = 0;
    size_t count = 0;
    size_t grad_offset = 0;  // where its gradient lives in grads_
    TrackedBuffer<float> exp_avg, exp_avg_sq;
    int64_t adam_step = 0;
  };

  // Frees the state of layers leaving the active set, creates fresh state for layers entering it.
  void switch_to(const std::vector<int64_t>& layers);
  void install_routes();
  size_t layer_offset(int64_t layer) const;
  size_t layer_count(int64_t layer) const;

  Model& model_;
  LisaOptions lisa_;
  TrainOptions options_;
  std::vector<Region> regions_;  // always-trained ranges first, then active layers ascending
  TrackedBuffer<float> grads_;   // compact: always-trained ranges + gamma layer slots
  int64_t step_ = 0;
};

}  // namespace tunesmith
