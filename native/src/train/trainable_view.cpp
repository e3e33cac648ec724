#include "train/trainable_view.h"

#include "model/model.h"

namespace tunesmith {

TrainableView<float> full_model_view(Model& model) {
  TrainableView<float> view;
  for (const ParamInfo& p : model.layout().params) view.spans.push_back({model.parameters() + p.offset, p.numel});
  return view;
}

}  // namespace tunesmith
