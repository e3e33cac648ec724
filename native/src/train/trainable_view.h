// Helpers over TrainableView (model/trainable_span.h), the one "parameters being trained" type of
// the engine: Trainer, ZoTrainer, checkpoints and Model::trainable_spans() all use it, so
// zeroth-order methods run over the full model or over a LoRA adapter's parameters alike.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/thread_pool.h"
#include "model/trainable_span.h"

namespace tunesmith {

class Model;

// Runs fn(view_index, element&) over every element, threads splitting each span. Elements are
// independent, so the result does not depend on the thread count.
template <typename T, typename Fn>
void for_each_view_element(ThreadPool& pool, TrainableView<T>& view, const Fn& fn) {
  int64_t base = 0;
  for (TrainableSpan<T>& span : view.spans) {
    pool.parallel_for(span.count, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) fn(base + i, span.data[i]);
    });
    base += span.count;
  }
}

// Every parameter tensor of the model, one span each, in layout order (a tied LM head is the
// embedding and appears once), without gradients. Element i of this view is the model's flat
// parameter i.
TrainableView<float> full_model_view(Model& model);

}  // namespace tunesmith
