// A trainer-independent view of "the parameters being trained": a list of (data, count) spans.
// Zeroth-order methods and checkpoints work over this view only, so they apply to the full model
// today and to any other trainable set (LoRA adapters) by building a different view. Element i of
// the view is element i of the spans laid end to end; perturbations are indexed that way.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/thread_pool.h"

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

// Runs fn(view_index, element&) over every element, threads splitting each span. Elements are
// independent, so the result does not depend on the thread count.
template <typename T, typename Fn>
void for_each_view_element(ThreadPool& pool, TrainableView<T>& view, const Fn& fn) {
  int64_t base = 0;
  for (ParamSpan<T>& span : view.spans) {
    pool.parallel_for(span.count, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) fn(base + i, span.data[i]);
    });
    base += span.count;
  }
}

// Every parameter tensor of the model, one span each, in layout order (a tied LM head is the
// embedding and appears once). Element i of this view is the model's flat parameter i.
TrainableView<float> full_model_view(Model& model);

}  // namespace tunesmith
