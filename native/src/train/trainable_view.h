// A trainer-independent view of "the parameters being trained": a list of (data, count) spans.
// Zeroth-order methods and checkpoints work over this view only, so they apply to the full model
// today and to any other trainable set (LoRA adapters) by building a different view. Element i of
// the view is element i of the spans laid end to end; perturbations are indexed that way.
#pragma once
#include <cstdint>
#include <vector>

namespace tunesmith {

class Model;

template <typename T>
struct ParamSpan {
  T* data = nullptr;
  int64_t count = 0;
};

template <typename T>
struct TrainableView {
  std::vector<ParamSpan<T>> spans;
  int64_t total() const {
    int64_t n = 0;
    for (const auto& s : spans) n += s.count;
    return n;
  }
};

// Every parameter tensor of the model, one span each, in layout order (a tied LM head is the
// embedding and appears once). Element i of this view is the model's flat parameter i.
TrainableView<float> full_model_view(Model& model);

}  // namespace tunesmith
