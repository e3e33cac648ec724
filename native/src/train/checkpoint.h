// Checkpoint and resume, bit-exact: a checkpoint holds everything a trainer's next step depends
// on, so loading one into fresh Model + trainer objects and continuing reproduces the
// uninterrupted run's losses bit for bit (same thread count not required: every op is
// thread-count independent).
//
//   full (Trainer)  weights, AdamW moments or SGD momentum, step
//   lisa            weights, AdamW moments and step per active range (E, norm+H, each active
//                   layer), the active layers, step; the layer schedule is a pure function of
//                   (seed, step), so its RNG state is the seed and the step
//   zo              the trainable view's values, ZO momentum / Adam moments, step; perturbations
//                   are counter-based on (seed, step, query), so that is their whole RNG state
//
// The engine has no dropout, so there is no other RNG. The JSON header records the format
// version, the trainer kind, the model's shape and the trainer's options; loading checks the model
// shape and the options that the saved state depends on, and throws tunesmith::Error naming the
// file and the field that differs. Files are written atomically (train/checkpoint_file.h).
//
//   tunesmith::save_checkpoint("/runs/7/step-200.ckpt", lisa_trainer);
//   auto model = tunesmith::Model::load(dir);  tunesmith::LisaTrainer resumed(*model, lisa, train);
//   tunesmith::load_checkpoint("/runs/7/step-200.ckpt", resumed);   // continues at step 200
#pragma once
#include <cstdint>
#include <string>

#include "train/lisa.h"
#include "train/trainer.h"
#include "train/zo.h"

namespace tunesmith {

struct CheckpointInfo {
  int64_t format_version = 0;
  std::string trainer;  // "full", "lisa" or "zo"
  int64_t step = 0;     // optimizer steps done when it was written
  std::string header_json;
};

// Reads only the header (for listing checkpoints in the UI).
CheckpointInfo read_checkpoint_info(const std::string& path);

void save_checkpoint(const std::string& path, const Trainer& trainer);
void save_checkpoint(const std::string& path, const LisaTrainer& trainer);
void save_checkpoint(const std::string& path, const ZoTrainer& trainer);

// Restores weights and trainer state into objects built with the same model and options.
void load_checkpoint(const std::string& path, Trainer& trainer);
void load_checkpoint(const std::string& path, LisaTrainer& trainer);
void load_checkpoint(const std::string& path, ZoTrainer& trainer);

}  // namespace tunesmith
