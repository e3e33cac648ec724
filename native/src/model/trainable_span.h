// "The parameters being trained", as one type shared by every trainer: a TrainableView is a list
// of TrainableSpans, each a contiguous run of values with (optionally) their gradients.
//
//   Model::trainable_spans()   what the first-order Trainer steps: all parameters, or an adapter's
//                              parameters (LoRA A/B) plus the base tensors it leaves trainable;
//                              every span has `grad`
//   full_model_view(model)     every parameter tensor, no gradients (train/trainable_view.h)
//   ZoTrainer, checkpoints     any view; zeroth-order methods ignore `grad`
//
// Element i of a view is element i of its spans laid end to end; optimizer state (Trainer) and
// ZO perturbations are indexed that way.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tunesmith {

template <typename T>
struct TrainableSpan {
  T* data = nullptr;  // the values (updated in place)
  int64_t count = 0;
  T* grad = nullptr;  // their gradients, `count` of them; null in views built for gradient-free methods
  std::string name;   // for messages: a parameter name, "base parameters", "lora", ...
};

template <typename T>
struct TrainableView {
  std::vector<TrainableSpan<T>> spans;

  int64_t total() const {
    int64_t n = 0;
    for (const auto& s : spans) n += s.count;
    return n;
  }
  // True when every span carries a gradient pointer (what a first-order optimizer needs).
  bool has_gradients() const {
    for (const auto& s : spans)
      if (!s.grad && s.count > 0) return false;
    return true;
  }
  size_t size() const { return spans.size(); }
  bool empty() const { return spans.empty(); }
  typename std::vector<TrainableSpan<T>>::iterator begin() { return spans.begin(); }
  typename std::vector<TrainableSpan<T>>::iterator end() { return spans.end(); }
  typename std::vector<TrainableSpan<T>>::const_iterator begin() const { return spans.begin(); }
  typename std::vector<TrainableSpan<T>>::const_iterator end() const { return spans.end(); }
};

}  // namespace tunesmith
