// Training pieces against hand-computed PyTorch/transformers semantics: schedules, AdamW and SGD
// single-element updates, clip_grad_norm_, memory accounting; and a smoke run where loss falls.
#include <cmath>
#include <vector>

#include "check.h"
#include "core/memory.h"
#include "cpu/cpu_backend.h"
#include "model/model.h"
#include "train/schedule.h"
#include "train/trainer.h"

using namespace tunesmith;
using tunesmith_test::check;
using tunesmith_test::fmt;

int main() {
  {  // get_cosine_schedule_with_warmup(warmup=2, total=10): 0, .5, 1, then cosine to 0.
    ScheduleOptions s;
    s.kind = ScheduleOptions::Kind::Cosine;
    s.warmup_steps = 2;
    s.total_steps = 10;
    const double want[] = {0.0, 0.5, 1.0, 0.5 * (1 + std::cos(M_PI * 1.0 / 8)), 0.5 * (1 + std::cos(M_PI * 2.0 / 8))};
    bool ok = true;
    for (int i = 0; i < 5; ++i) ok = ok && std::fabs(schedule_lr_factor(s, i) - want[i]) < 1e-15;
    ok = ok && std::fabs(schedule_lr_factor(s, 10)) < 1e-15 && schedule_lr_factor(s, 12) >= 0.0;
    check(ok, "cosine schedule with warmup matches transformers' lr_lambda");
    ScheduleOptions c;
    check(schedule_lr_factor(c, 0) == 1.0 && schedule_lr_factor(c, 100) == 1.0, "constant schedule");
    c.kind = ScheduleOptions::Kind::ConstantWithWarmup;
    c.warmup_steps = 4;
    check(schedule_lr_factor(c, 1) == 0.25 && schedule_lr_factor(c, 4) == 1.0, "constant schedule with warmup");
  }

  CpuBackend<double> be(1);
  {  // AdamW, two steps on one element, against the formulas of torch.optim.AdamW.
    double p = 0.5, m = 0, v = 0;
    const double g1 = 0.1, g2 = -0.3, lr = 0.01, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    AdamWParams h;
    h.lr = lr, h.weight_decay = wd, h.step = 1;
    be.adamw_step(&p, &g1, &m, &v, 1, h);
    h.step = 2;
    be.adamw_step(&p, &g2, &m, &v, 1, h);
    double P = 0.5, M = 0, V = 0;
    const double gs[] = {g1, g2};
    for (int t = 1; t <= 2; ++t) {
      P *= 1 - lr * wd;
      M = b1 * M + (1 - b1) * gs[t - 1];
      V = b2 * V + (1 - b2) * gs[t - 1] * gs[t - 1];
      P -= lr / (1 - std::pow(b1, t)) * M / (std::sqrt(V) / std::sqrt(1 - std::pow(b2, t)) + eps);
    }
    check(std::fabs(p - P) < 1e-15, "AdamW step (decoupled decay, bias correction)", fmt(p) + " vs " + fmt(P));
  }
  {  // SGD momentum 0.9, dampening 0.1, weight decay 0.01, plain and nesterov.
    for (bool nesterov : {false, true}) {
      double p = 1.0, buf = 0;
      const double grads[] = {0.2, -0.1, 0.4};
      SgdParams h;
      h.lr = 0.1, h.momentum = 0.9, h.dampening = nesterov ? 0.0 : 0.1, h.weight_decay = 0.01, h.nesterov = nesterov;
      double P = 1.0, B = 0;
      for (int t = 0; t < 3; ++t) {
        h.first_step = t == 0;
        be.sgd_step(&p, &grads[t], &buf, 1, h);
        double g = grads[t] + 0.01 * P;
        B = t == 0 ? g : 0.9 * B + (1 - h.dampening) * g;
        g = nesterov ? g + 0.9 * B : B;
        P -= 0.1 * g;
      }
      check(std::fabs(p - P) < 1e-15, std::string("SGD momentum step") + (nesterov ? " (nesterov)" : ""));
    }
  }
  {  // clip_grad_norm_: norm 5 clipped to 1 -> scaled by 1/(5+1e-6); below max untouched.
    CpuBackend<float> fb(2);
    std::vector<float> g = {3.0f, 4.0f};
    const double norm = clip_grad_norm(fb, g.data(), 2, 1.0);
    const double coef = 1.0 / (5.0 + 1e-6);
    check(std::fabs(norm - 5.0) < 1e-6 && std::fabs(g[0] - 3.0 * coef) < 1e-6 && std::fabs(g[1] - 4.0 * coef) < 1e-6,
          "global-norm clipping (PyTorch clip_grad_norm_)");
    std::vector<float> small = {0.3f, 0.4f};
    clip_grad_norm(fb, small.data(), 2, 1.0);
    check(small[0] == 0.3f && small[1] == 0.4f, "clipping leaves gradients under max_norm unchanged");
  }

  {  // Memory accounting: live bytes go up by a buffer's size and back down; peak remembers.
    const MemoryStats before = memory_stats();
    reset_peak_memory();
    {
      TrackedBuffer<float> buf(1 << 20);
      check(memory_stats().live_bytes - before.live_bytes == (4 << 20), "memory: live bytes count an allocation");
    }
    const MemoryStats after = memory_stats();
    check(after.live_bytes == before.live_bytes && after.peak_bytes >= before.live_bytes + (4 << 20),
          "memory: free returns live bytes, peak remembers");
  }

  {  // Smoke: a small model learns a fixed response; checkpointing lowers peak memory.
    LlamaConfig c;
    c.hidden_size = 64, c.intermediate_size = 128, c.num_layers = 4, c.num_heads = 4, c.num_kv_heads = 2,
    c.head_dim = 16, c.vocab_size = 100, c.rms_norm_eps = 1e-5;
    auto model = Model::from_config(c, 3, 0.02, 2);
    TrainBatch b;
    b.batch = 2, b.seq = 32;
    for (int i = 0; i < 64; ++i) {
      b.tokens.push_back(int32_t((i * 7) % 100));
      b.loss_mask.push_back(uint8_t(i % 32 >= 8));
    }
    TrainOptions o;
    o.optimizer.lr = 3e-3;
    o.max_grad_norm = 1.0;
    Trainer trainer(*model, o);
    const double first = trainer.step({b}).loss;
    double last = first;
    for (int s = 0; s < 30; ++s) last = trainer.step({b}).loss;
    check(last < 0.5 * first, "training reduces the masked loss", fmt(first) + " -> " + fmt(last));

    // Peak bytes a first forward+backward adds on a fresh model (activations + scratch).
    auto step_peak = [&](bool checkpointing) {
      auto fresh = Model::from_config(c, 3, 0.02, 2);
      fresh->zero_gradients();
      fresh->set_checkpointing(checkpointing);
      const int64_t base = memory_stats().live_bytes;
      reset_peak_memory();
      fresh->forward_backward(b);
      return memory_stats().peak_bytes - base;
    };
    const int64_t stored = step_peak(false), ckpt = step_peak(true);
    check(ckpt < stored, "activation checkpointing lowers activation memory",
          std::to_string(stored) + " -> " + std::to_string(ckpt) + " bytes");
  }
  return tunesmith_test::finish("test_training");
}
