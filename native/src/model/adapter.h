// What the optimizer steps over, and the interface through which something like LoRA plugs into a
// Model: it may take over the Linear layers (model/linear_override.h), bring its own trainable
// parameters, and decide which of the base model's parameters stay trainable.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/linear_override.h"
#include "model/parameters.h"
#include "model/trainable_span.h"

namespace tunesmith {

class ModelAdapter {
 public:
  virtual ~ModelAdapter() = default;
  // Layers this adapter computes (null: none).
  virtual LinearOverride<float>* linear_override() = 0;
  // Which base parameters (indexes into `layout.params`) keep gradients; all others are frozen.
  virtual std::vector<bool> trainable_base_parameters(const ParameterLayout& layout) const = 0;
  // The adapter's own parameters and gradients (stable pointers while attached).
  virtual TrainableView<float> trainable_spans() = 0;
  virtual void zero_gradients() = 0;
};

}  // namespace tunesmith
