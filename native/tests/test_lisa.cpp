// LISA: the seeded schedule, frozen layers (no weight gradient, input gradients intact), AdamW
// state only for the active set (proved with the engine's memory accounting), fresh state on
// re-activation, and a smoke run where the loss falls.
#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include "check.h"
#include "core/error.h"
#include "core/memory.h"
#include "model/model.h"
#include "train/lisa.h"

using namespace tunesmith;
using tunesmith_test::check;
using tunesmith_test::fmt;

namespace {

LlamaConfig small_config(int64_t layers) {
  LlamaConfig c;
  c.hidden_size = 32, c.intermediate_size = 48, c.num_layers = layers, c.num_heads = 4, c.num_kv_heads = 2;
  c.head_dim = 8, c.vocab_size = 64, c.rms_norm_eps = 1e-5;
  return c;
}

TrainBatch fixed_batch(int64_t vocab) {
  TrainBatch b;
  b.batch = 2, b.seq = 16;
  for (int i = 0; i < 32; ++i) {
    b.tokens.push_back(int32_t((i * 5 + 3) % vocab));
    b.loss_mask.push_back(uint8_t(i % 16 >= 4));
  }
  return b;
}

}  // namespace

int main() {
  {  // Schedule: deterministic, gamma distinct layers, constant within an interval, uniform.
    LisaOptions o;
    o.gamma = 2, o.period_k = 5, o.seed = 7;
    bool distinct = true, constant = true, deterministic = true;
    std::vector<int64_t> counts(8, 0);
    std::set<std::vector<int64_t>> sets;
    for (int64_t interval = 0; interval < 4000; ++interval) {
      const auto layers = lisa_active_layers(o, 8, interval * 5);
      distinct = distinct && layers.size() == 2 && layers[0] < layers[1] && layers[0] >= 0 && layers[1] < 8;
      if (interval < 50) {
        for (int64_t s = 1; s < 5; ++s) constant = constant && lisa_active_layers(o, 8, interval * 5 + s) == layers;
        deterministic = deterministic && lisa_active_layers(o, 8, interval * 5) == layers;
        sets.insert(layers);
      }
      for (int64_t l : layers) ++counts[size_t(l)];
    }
    check(distinct, "LISA samples gamma distinct layers in range");
    check(constant && deterministic, "LISA layers are constant within a K-step interval and reproducible");
    check(sets.size() > 10, "LISA resamples at every K boundary", std::to_string(sets.size()) + " distinct sets in 50 intervals");
    // 8000 draws over 8 layers: 1000 expected each, σ ≈ 29; allow ±10%.
    const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
    check(*lo > 900 && *hi < 1100, "LISA sampling is uniform over layers",
          "counts " + std::to_string(*lo) + ".." + std::to_string(*hi) + " (expected 1000)");
    LisaOptions other = o;
    other.seed = 8;
    bool differs = false;
    for (int64_t i = 0; i < 20; ++i) differs = differs || lisa_active_layers(other, 8, i * 5) != lisa_active_layers(o, 8, i * 5);
    check(differs, "a different seed gives a different schedule");
    bool threw = false;
    try {
      LisaOptions bad = o;
      bad.gamma = 9;
      lisa_active_layers(bad, 8, 0);
    } catch (const Error& e) {
      threw = std::string(e.what()).find("gamma") != std::string::npos;
    }
    check(threw, "gamma larger than the layer count is an error naming gamma");
  }

  const LlamaConfig c = small_config(4);
  const TrainBatch batch = fixed_batch(c.vocab_size);
  {  // Routed gradients equal the full backward's for trained ranges, bit for bit; frozen get none.
    auto full = Model::from_config(c, 11, 0.05, 2);
    full->zero_gradients();
    full->forward_backward(batch);
    auto routed = Model::from_config(c, 11, 0.05, 2);
    const ParameterLayout& L = routed->layout();
    const size_t layer1 = L.layers[1].input_norm, layer1_count = L.layers[2].input_norm - layer1;
    const size_t embed_count = L.layers[0].input_norm, tail = L.total - L.final_norm;
    std::vector<float> store(embed_count + layer1_count + tail, 0.0f);
    routed->transformer().set_gradient_routes({{0, embed_count, store.data()},
                                              {layer1, layer1_count, store.data() + embed_count},
                                              {L.final_norm, tail, store.data() + embed_count + layer1_count}});
    routed->forward_backward(batch);
    const float* g = full->gradients();
    const bool same = std::memcmp(store.data(), g, embed_count * 4) == 0 &&
                      std::memcmp(store.data() + embed_count, g + layer1, layer1_count * 4) == 0 &&
                      std::memcmp(store.data() + embed_count + layer1_count, g + L.final_norm, tail * 4) == 0;
    check(same, "frozen layers: trained ranges get exactly the full-backward gradients (input grads flow)");
    check(routed->gradients() == nullptr, "frozen layers: the model's full gradient buffer is never allocated");
    routed->transformer().clear_gradient_routes();
  }

  {  // Memory: gradients and AdamW state exist only for E + norm + H + active layers.
    auto model = Model::from_config(c, 5, 0.05, 2);
    const ParameterLayout& L = model->layout();
    const int64_t layer_params = int64_t(L.layers[1].input_norm - L.layers[0].input_norm);
    const int64_t always = int64_t(L.total) - 4 * layer_params;  // E + final norm + H
    LisaOptions lo;
    lo.gamma = 2, lo.period_k = 3, lo.seed = 1;
    TrainOptions to;
    to.optimizer.lr = 2e-3;
    const int64_t before_ctor = memory_stats().live_bytes;
    LisaTrainer trainer(*model, lo, to);
    const int64_t grad_bytes = memory_stats().live_bytes - before_ctor;
    check(grad_bytes == 4 * (always + 2 * layer_params), "LISA gradient buffer = 4 B x (E + norm + H + gamma layers)",
          std::to_string(grad_bytes) + " bytes");
    check(trainer.optimizer_state_bytes() == 0, "no optimizer state before the first step");

    std::vector<int64_t> live_after(12), state_after(12);
    std::vector<std::vector<int64_t>> active(12);
    std::set<int64_t> touched;
    std::vector<float> frozen_before;
    bool frozen_untouched = true, fresh_on_entry = true, kept_when_staying = true;
    int entered = 0, stayed = 0;
    for (int s = 0; s < 12; ++s) {
      const std::vector<int64_t> prev = s ? active[size_t(s - 1)] : std::vector<int64_t>{};
      std::vector<float> params_before(model->parameters(), model->parameters() + L.total);
      std::vector<int64_t> old_steps;
      for (int64_t l = 0; l < 4; ++l) old_steps.push_back(trainer.layer_adam_step(l));
      const LisaStepResult r = trainer.step({batch});
      active[size_t(s)] = r.active_layers;
      touched.insert(r.active_layers.begin(), r.active_layers.end());
      live_after[size_t(s)] = memory_stats().live_bytes;
      state_after[size_t(s)] = trainer.optimizer_state_bytes();
      for (int64_t l = 0; l < 4; ++l) {
        const size_t off = L.layers[size_t(l)].input_norm;
        const bool is_active = std::count(r.active_layers.begin(), r.active_layers.end(), l) > 0;
        const bool unchanged = std::memcmp(params_before.data() + off, model->parameters() + off, size_t(layer_params) * 4) == 0;
        if (!is_active) frozen_untouched = frozen_untouched && unchanged;
        if (is_active && r.switched) {
          const bool was_active = std::count(prev.begin(), prev.end(), l) > 0;
          if (was_active) {
            ++stayed;
            kept_when_staying = kept_when_staying && old_steps[size_t(l)] >= 3 && trainer.layer_adam_step(l) == old_steps[size_t(l)] + 1;
          } else {
            ++entered;
            fresh_on_entry = fresh_on_entry && trainer.layer_adam_step(l) == 1;
          }
        }
        if (!is_active) frozen_untouched = frozen_untouched && trainer.layer_adam_step(l) == -1;
      }
    }
    const int64_t predicted = 2 * 4 * (always + 2 * layer_params);
    bool state_constant = true, live_constant = true;
    for (int s = 0; s < 12; ++s) {
      state_constant = state_constant && state_after[size_t(s)] == predicted;
      live_constant = live_constant && live_after[size_t(s)] == live_after[0];
    }
    check(state_constant, "LISA optimizer state = 2 x 4 B x (E + norm + H + active layers) at every step",
          std::to_string(predicted) + " bytes (E+norm+H " + std::to_string(always) + ", layer " +
              std::to_string(layer_params) + " params)");
    check(live_constant && touched.size() > 2,
          "switching layers frees the old state: live bytes unchanged across 3 switches",
          std::to_string(live_after[0]) + " live bytes; " + std::to_string(touched.size()) +
              " layers touched (LMFlow would hold " + std::to_string(2 * 4 * (always + int64_t(touched.size()) * layer_params)) +
              " bytes of state)");
    check(frozen_untouched, "frozen layers: weights bit-identical after a step and no optimizer state");
    check(fresh_on_entry && entered > 2, "a (re-)activated layer starts fresh AdamW state (step 1 after its first step)",
          std::to_string(entered) + " entries");
    check(kept_when_staying && stayed > 0, "a layer active across a switch keeps its state (its step count continues)",
          std::to_string(stayed) + " stays");

    // Engine accounting across gamma: (trainer + first step) bytes differ by 12 B x params per extra layer.
    auto bytes_for_gamma = [&](int64_t gamma) {
      auto m = Model::from_config(c, 5, 0.05, 2);
      LisaOptions g = lo;
      g.gamma = gamma;
      const int64_t base = memory_stats().live_bytes;
      LisaTrainer t(*m, g, to);
      t.step({batch});
      return memory_stats().live_bytes - base;
    };
    const int64_t b1 = bytes_for_gamma(1), b3 = bytes_for_gamma(3);
    check(b3 - b1 == 2 * 12 * layer_params, "memory accounting: two more active layers cost 2 x (4 B grad + 8 B Adam) x layer params",
          std::to_string(b1) + " -> " + std::to_string(b3) + " bytes");
  }

  {  // Smoke: LISA lowers the loss.
    auto model = Model::from_config(c, 9, 0.05, 2);
    LisaOptions lo;
    lo.gamma = 1, lo.period_k = 4, lo.seed = 3;
    TrainOptions to;
    to.optimizer.lr = 3e-3;
    to.max_grad_norm = 1.0;
    LisaTrainer trainer(*model, lo, to);
    const double first = trainer.step({batch}).loss;
    double last = first;
    for (int s = 0; s < 30; ++s) last = trainer.step({batch}).loss;
    check(last < 0.6 * first, "LISA training reduces the loss", fmt(first) + " -> " + fmt(last));
  }
  return tunesmith_test::finish("test_lisa");
}
