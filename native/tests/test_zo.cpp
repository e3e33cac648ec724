// Zeroth-order family: counter-based perturbations, bit-exact restore after probes, the ZO
// projected gradient and Forward-Grad's JVP against ⟨∇L, z⟩ from backprop (float64 and float32),
// every method lowering the loss, and ZO-SGD's memory (no gradient buffer, accounting proves it).
#include <cmath>
#include <cstring>
#include <vector>

#include "check.h"
#include "core/counter_rng.h"
#include "core/memory.h"
#include "core/rng.h"
#include "model/model.h"
#include "train/forward_grad.h"
#include "train/zo.h"

using namespace tunesmith;
using tunesmith_test::check;
using tunesmith_test::fmt;

namespace {

LlamaConfig tiny_config(int64_t kv_heads, bool tied, bool qkv_bias, int64_t window) {
  LlamaConfig c;
  c.model_type = qkv_bias ? "qwen2" : "llama";
  c.hidden_size = 8, c.intermediate_size = 12, c.num_layers = 2, c.num_heads = 4, c.num_kv_heads = kv_heads;
  c.head_dim = 4, c.vocab_size = 11, c.rms_norm_eps = 1e-5, c.tie_word_embeddings = tied, c.qkv_bias = qkv_bias;
  c.sliding_window = window;
  return c;
}

TrainBatch task_batch(int64_t vocab) {
  TrainBatch b;
  b.batch = 2, b.seq = 8;
  for (int i = 0; i < 16; ++i) {
    b.tokens.push_back(int32_t((i * 3 + 1) % vocab));
    b.loss_mask.push_back(uint8_t(i % 8 >= 2));
  }
  return b;
}

template <typename T>
double view_dot_z(const T* grad, size_t n, uint64_t key) {
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += double(grad[i]) * double(counter_normal(key, i));
  return s;
}

}  // namespace

int main() {
  {  // Counter-based normals: reproducible, N(0, 1), keyed by (seed, step, query).
    const uint64_t key = perturbation_key(5, 7, 0);
    double sum = 0, sq = 0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
      const double z = counter_normal(key, uint64_t(i));
      sum += z;
      sq += z * z;
    }
    check(std::fabs(sum / n) < 0.01 && std::fabs(sq / n - 1.0) < 0.02, "counter normals have mean 0 and variance 1",
          "mean " + fmt(sum / n) + ", var " + fmt(sq / n));
    check(counter_normal(key, 123) == counter_normal(perturbation_key(5, 7, 0), 123) &&
              counter_normal(key, 123) != counter_normal(perturbation_key(5, 7, 1), 123) &&
              counter_normal(key, 123) != counter_normal(perturbation_key(5, 8, 0), 123),
          "the same (seed, step, query) regenerates z; another step or query gives another z");
  }

  {  // Exact restore, float and double, including awkward values; MeZO's +e −2e +e is not exact.
    Rng rng(3);
    std::vector<float> a(100000);
    for (float& v : a) v = float(rng.normal() * 0.02);
    const float awkward[] = {0.0f, -0.0f, 1e-30f, -1e-38f, 1.4e-45f, 3e8f, -2.5f, 1.0f, 65504.0f, 1e-4f};
    std::memcpy(a.data(), awkward, sizeof awkward);
    std::vector<float> b(777);
    for (float& v : b) v = float(rng.normal());
    const std::vector<float> a0 = a, b0 = b;
    TrainableView<float> view{{{a.data(), int64_t(a.size())}, {b.data(), int64_t(b.size())}}};
    ThreadPool pool(2);
    ExactDisplacement<float> d;
    bool exact = true;
    std::string exceptions;
    for (double eps : {1e-3, 1e-1, -1e-2, 5.0}) {
      d.apply(pool, view, {{perturbation_key(1, 2, 3), eps}});
      const bool moved = std::memcmp(a.data(), a0.data(), a.size() * 4) != 0;
      exceptions += std::to_string(d.exception_count()) + " ";
      d.undo(pool, view);
      exact = exact && moved && std::memcmp(a.data(), a0.data(), a.size() * 4) == 0 &&
              std::memcmp(b.data(), b0.data(), b.size() * 4) == 0;
    }
    check(exact, "ZO probe restore is bit-exact (float, eps 1e-3..5, zeros, denormals, large values)",
          "elements needing the exception list at eps 1e-3, 1e-1, -1e-2, 5: " + exceptions);
    // What MeZO guarantees instead: θ+εz−2εz+εz is θ only up to rounding.
    const Direction plus{{perturbation_key(1, 2, 3), 1e-3}}, minus2{{perturbation_key(1, 2, 3), -2e-3}};
    displace(pool, view, plus);
    displace(pool, view, minus2);
    displace(pool, view, plus);
    int64_t drifted = 0;
    for (size_t i = 0; i < a.size(); ++i) drifted += std::memcmp(&a[i], &a0[i], 4) != 0;
    check(drifted > 0, "for contrast, MeZO's in-place +e -2e +e sequence is not bit-exact in fp32",
          std::to_string(drifted) + " of " + std::to_string(a.size()) + " elements drift");

    std::vector<double> x(5000);
    for (double& v : x) v = rng.normal() * 1e-3;
    x[0] = -0.0;
    const std::vector<double> x0 = x;
    TrainableView<double> dv{{{x.data(), int64_t(x.size())}}};
    ExactDisplacement<double> dd;
    dd.apply(pool, dv, {{9, 0.3}});
    dd.undo(pool, dv);
    check(std::memcmp(x.data(), x0.data(), x.size() * 8) == 0, "ZO probe restore is bit-exact in float64");
  }

  {  // float64: the ZO projected gradient → ⟨∇L, z⟩ as ε → 0; Forward-Grad's JVP equals it.
    const LlamaConfig configs[] = {tiny_config(4, false, false, 0), tiny_config(2, true, true, 3)};
    for (const LlamaConfig& c : configs) {
      const std::string tag = c.qkv_bias ? " (GQA, tied, qkv bias, window)" : " (MHA)";
      CpuBackend<double> backend(2);
      Transformer<double> model(c, backend);
      Rng rng(42);
      for (size_t i = 0; i < model.num_params(); ++i) model.params()[i] = rng.normal() * 0.5;
      const TrainBatch b = task_batch(c.vocab_size);
      const std::vector<int32_t> targets = make_targets(b);
      model.forward(b.tokens.data(), targets.data(), b.batch, b.seq, true);
      model.ensure_grads();
      model.zero_grads();
      model.backward(1.0);
      const uint64_t seed = 77;
      const uint64_t key = perturbation_key(seed, 0, 0);
      const double exact = view_dot_z(model.grads(), model.num_params(), key);
      TrainableView<double> view{{{model.params(), int64_t(model.num_params())}}};
      auto loss_fn = [&] { return model.forward(b.tokens.data(), targets.data(), b.batch, b.seq, false); };
      ExactDisplacement<double> d;
      std::string errs;
      std::vector<double> rel;
      for (double eps : {1e-2, 1e-3, 1e-4}) {
        const ZoProbeResult r = zo_probe(backend.pool(), view, loss_fn, seed, 0, eps, 1, false, d);
        rel.push_back(std::fabs(r.projected_grads[0] - exact) / std::fabs(exact));
        errs += fmt(rel.back()) + " ";
      }
      check(rel[1] < rel[0] / 50 && rel[2] < rel[1] / 50 && rel[2] < 1e-5,
            "float64 ZO projected gradient -> <grad L, z> as eps -> 0, error O(eps^2)" + tag,
            "rel err at eps 1e-2,1e-3,1e-4: " + errs);
      const ZoProbeResult one = zo_probe(backend.pool(), view, loss_fn, seed, 0, 1e-6, 1, true, d);
      const double rel_one = std::fabs(one.projected_grads[0] - exact) / std::fabs(exact);
      check(rel_one < 1e-4, "float64 one-sided estimate at eps 1e-6" + tag, "rel err " + fmt(rel_one));

      std::vector<double> tangent(model.num_params());
      for (size_t i = 0; i < tangent.size(); ++i) tangent[i] = counter_normal(key, i);
      const JvpResult jvp = loss_jvp(model, tangent.data(), b.tokens.data(), targets.data(), b.batch, b.seq);
      const double rel_jvp = std::fabs(jvp.directional_derivative - exact) / std::fabs(exact);
      check(rel_jvp < 1e-12 && std::fabs(jvp.loss - loss_fn()) < 1e-14, "float64 Forward-Grad JVP = <grad L, z> from backprop" + tag,
            "rel err " + fmt(rel_jvp));
    }
  }

  {  // float32: JVP vs backprop on a larger model.
    LlamaConfig c = tiny_config(2, false, false, 0);
    c.hidden_size = 32, c.intermediate_size = 48, c.head_dim = 8, c.vocab_size = 40;
    auto model = Model::from_config(c, 4, 0.1, 2);
    const TrainBatch b = task_batch(c.vocab_size);
    model->zero_gradients();
    model->forward_backward(b);
    const uint64_t key = perturbation_key(1, 0, 0);
    const double exact = view_dot_z(model->gradients(), model->num_parameters(), key);
    std::vector<float> tangent(model->num_parameters());
    for (size_t i = 0; i < tangent.size(); ++i) tangent[i] = counter_normal(key, i);
    const std::vector<int32_t> targets = make_targets(b);
    const JvpResult jvp = loss_jvp(model->transformer(), tangent.data(), b.tokens.data(), targets.data(), b.batch, b.seq);
    const double rel = std::fabs(jvp.directional_derivative - exact) / std::fabs(exact);
    check(rel < 1e-5, "float32 Forward-Grad JVP = <grad L, z> from backprop (<= 1e-5 relative)", "rel err " + fmt(rel));
  }

  {  // Every method lowers the loss on a tiny task.
    LlamaConfig c = tiny_config(2, false, false, 0);
    c.hidden_size = 16, c.intermediate_size = 24, c.vocab_size = 16;
    const TrainBatch b = task_batch(c.vocab_size);
    struct Case {
      ZoMethod method;
      double lr;
      int64_t q;
      bool one_sided;
    };
    const Case cases[] = {{ZoMethod::Sgd, 2e-3, 1, false},         {ZoMethod::Sgd, 2e-3, 4, true},
                          {ZoMethod::SgdSign, 5e-3, 1, false},     {ZoMethod::SgdMomentum, 2e-4, 1, false},
                          {ZoMethod::SgdConservative, 2e-3, 1, false}, {ZoMethod::Adam, 2e-3, 1, false},
                          {ZoMethod::ForwardGrad, 2e-3, 1, false}};
    for (const Case& k : cases) {
      auto model = Model::from_config(c, 21, 0.3, 2);
      const double initial = model->loss(b);
      ZoOptions o;
      o.method = k.method, o.lr = k.lr, o.q = k.q, o.one_sided = k.one_sided, o.eps = 1e-3, o.seed = 5;
      ZoTrainer trainer(*model, o);
      for (int s = 0; s < 300; ++s) trainer.step({b});
      const double final_loss = model->loss(b);
      const std::string name = std::string(zo_method_name(k.method)) + (k.q > 1 ? " q=4" : "") + (k.one_sided ? " one-sided" : "");
      check(final_loss < initial - 0.1, name + " lowers the loss over 300 steps", fmt(initial) + " -> " + fmt(final_loss));
    }
  }

  {  // Memory: ZO-SGD allocates no gradient buffer; a step costs inference + 1 byte per parameter.
    LlamaConfig c = tiny_config(2, false, false, 0);
    c.hidden_size = 32, c.intermediate_size = 48, c.head_dim = 8, c.vocab_size = 40;
    const TrainBatch b = task_batch(c.vocab_size);
    auto inference_peak = [&] {
      auto m = Model::from_config(c, 4, 0.1, 2);
      const int64_t base = memory_stats().live_bytes;
      reset_peak_memory();
      m->loss(b);
      return memory_stats().peak_bytes - base;
    }();
    auto model = Model::from_config(c, 4, 0.1, 2);
    ZoOptions o;
    o.lr = 1e-3;
    const int64_t base = memory_stats().live_bytes;
    reset_peak_memory();
    ZoTrainer trainer(*model, o);
    for (int s = 0; s < 3; ++s) trainer.step({b});
    const int64_t step_peak = memory_stats().peak_bytes - base;
    const int64_t n = int64_t(model->num_parameters());
    check(model->gradients() == nullptr && trainer.state_bytes() == 0, "ZO-SGD never allocates a gradient buffer or state");
    check(step_peak == inference_peak + n, "ZO-SGD peak = inference peak + 1 B x params (restore codes)",
          std::to_string(inference_peak) + " + " + std::to_string(n) + " = " + std::to_string(step_peak) +
              " bytes (a gradient would add " + std::to_string(4 * n) + ")");
    ZoOptions adam = o;
    adam.method = ZoMethod::Adam;
    auto m2 = Model::from_config(c, 4, 0.1, 2);
    ZoTrainer t2(*m2, adam);
    check(t2.state_bytes() == 8 * n, "ZO-Adam holds exactly two moment buffers");
  }
  return tunesmith_test::finish("test_zo");
}
