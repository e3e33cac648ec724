// GpuModel and GpuTrainer against the CPU engine (model/transformer.h, train/*): a tiny random
// Llama (plus a variant with qkv biases and tied embeddings) and the real stories260K. The CPU
// model's fp32 parameters are first rounded to bf16, so both engines see the same weights; what
// differs is the GPU's bf16 activations.
//
// Tolerances. Every activation the GPU stores is rounded to bf16 (relative error ≤ 2^-9 ≈ 2e-3
// per rounding); a layer chains ~10 such roundings and the errors are independent, so after
// a few layers the logits carry ~0.5-1% relative noise (‖Δ‖/‖ref‖). Gradients go through the same
// activations plus bf16 operands for every backward product (dy, dh, datt, dq/dk/dv rounded
// once each), so they are held to a few percent. Checkpointing recomputes the same deterministic
// ops, so its gradients must be bit-identical to the stored path.
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../assets.h"
#include "core/counter_rng.h"
#include "core/error.h"
#include "core/rng.h"
#include "gpu/device_memory.h"
#include "gpu/model/gpu_model.h"
#include "gpu/ops.h"
#include "gpu/philox.h"
#include "gpu/train/gpu_trainer.h"
#include "gpu_test.h"
#include "gpu_test_models.h"
#include "model/model.h"
#include "train/lisa.h"
#include "train/trainer.h"

using namespace tunesmith;
using namespace tunesmith::gpu;
using tunesmith_test::check;
using tunesmith_test::round_bf16;
using tunesmith_test::fmt;
using tunesmith_test::relative_error;

namespace {

LlamaConfig tiny_config(bool bias_and_tied) { return tunesmith_test::tiny_gpu_test_config(bias_and_tied, bias_and_tied); }

std::unique_ptr<Model> stories_model() {
  const std::string dir = assets_dir() + "/models/stories260K-hf";
  if (!path_exists(dir + "/model.safetensors")) return nullptr;
  auto model = Model::load(dir, 1);
  tunesmith_test::round_params_to_bf16(*model);
  return model;
}

struct Batch {
  int64_t batch = 0, seq = 0;
  std::vector<int32_t> tokens, targets;
  TrainBatch train;
};

// Random tokens; targets are the next token within the row, with a few positions masked out.
Batch make_batch(int64_t vocab, int64_t batch, int64_t seq, uint64_t seed) {
  Batch b;
  b.batch = batch;
  b.seq = seq;
  Rng rng(seed);
  b.train.batch = batch;
  b.train.seq = seq;
  for (int64_t i = 0; i < batch * seq; ++i) b.tokens.push_back(int32_t(rng.uniform() * double(vocab)) % int32_t(vocab));
  b.train.tokens = b.tokens;
  b.train.loss_mask.assign(size_t(batch * seq), 1);
  b.train.loss_mask[2] = 0;  // one masked-out token: targets < 0 are skipped
  b.targets = make_targets(b.train);
  return b;
}

// The stories260K snippet of test_lora.cpp (BOS first), cut to `seq`.
Batch story_batch(int64_t seq) {
  const std::vector<int32_t> story = {1,   403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421,
                                      395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411,
                                      322, 265, 282, 295, 433, 267};
  Batch b;
  b.batch = 1;
  b.seq = seq;
  b.tokens.assign(story.begin(), story.begin() + seq);
  b.train.batch = 1;
  b.train.seq = seq;
  b.train.tokens = b.tokens;
  b.targets = make_targets(b.train);
  return b;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

std::vector<float> download_grads(GpuModel& gpu) {
  const size_t total = gpu.layout().total;
  std::vector<float> g(total);
  copy_to_host(g.data(), gpu.grad_of_range(0), total * sizeof(float));
  return g;
}

// Forward and full backward on both engines; logits, loss and per-tensor gradients compared.
// Logits: ‖Δ‖/‖ref‖ < 2e-2; loss: |Δ| < 1e-2·loss; gradient of each tensor: ‖Δ‖/‖ref‖ < tol
// (see the header comment); checkpointing on and off bit-identical.
void parity(const std::string& what, Model& cpu, const Batch& b, double grad_tol, bool check_accumulation) {
  auto gpu = GpuModel::upload(cpu.transformer());
  check(gpu->download_params() == std::vector<float>(cpu.parameters(), cpu.parameters() + cpu.num_parameters()),
        what + ": upload keeps the bf16-exact parameters");

  Transformer<float>& t = cpu.transformer();
  t.forward(b.tokens.data(), nullptr, b.batch, b.seq, false);
  const size_t nv = size_t(b.batch * b.seq * cpu.config().vocab_size);
  const std::vector<float> cpu_logits(t.logits(), t.logits() + nv);
  const std::vector<float> gpu_logits = gpu->logits(b.tokens.data(), b.batch, b.seq);
  const double logit_err = relative_error(gpu_logits.data(), cpu_logits.data(), nv);
  check(logit_err < 2e-2, what + ": logits match the CPU", "rel err " + fmt(logit_err));

  const double cpu_loss = t.forward(b.tokens.data(), b.targets.data(), b.batch, b.seq, true);
  t.zero_grads();
  t.backward(1.0);
  const std::vector<float> cpu_grads(t.grads(), t.grads() + t.num_params());
  const double gpu_loss_fwd = gpu->loss(b.tokens.data(), b.targets.data(), b.batch, b.seq);
  check(std::fabs(gpu_loss_fwd - cpu_loss) < 1e-2 * cpu_loss, what + ": loss matches the CPU",
        "gpu " + fmt(gpu_loss_fwd) + " cpu " + fmt(cpu_loss) + " abs err " + fmt(std::fabs(gpu_loss_fwd - cpu_loss)));

  gpu->set_trainable({{0, gpu->layout().total}});
  std::vector<float> grads[2];
  double fb_loss[2];
  for (int ckpt = 0; ckpt < 2; ++ckpt) {
    gpu->set_checkpointing(ckpt == 1);
    gpu->zero_grads();
    fb_loss[ckpt] = gpu->forward_backward(b.tokens.data(), b.targets.data(), b.batch, b.seq, 1.0);
    grads[ckpt] = download_grads(*gpu);
  }
  check(fb_loss[0] == gpu_loss_fwd && fb_loss[1] == gpu_loss_fwd, what + ": forward_backward returns the same loss");
  check(grads[0] == grads[1], what + ": gradients bit-identical with and without checkpointing");
  double worst = 0;
  std::string worst_name;
  for (const ParamInfo& info : gpu->layout().params) {
    const double e = relative_error(grads[1].data() + info.offset, cpu_grads.data() + info.offset, size_t(info.numel));
    if (e > worst) worst = e, worst_name = info.name;
    if (std::getenv("TS_DEBUG_GRADS")) {
      double nr = 0;
      for (int64_t i = 0; i < info.numel; ++i) nr += double(cpu_grads[info.offset + i]) * cpu_grads[info.offset + i];
      std::printf("  %-50s rel %.4f  norm %.3g\n", info.name.c_str(), e, std::sqrt(nr));
    }
  }
  const double total_err = relative_error(grads[1].data(), cpu_grads.data(), cpu_grads.size());
  check(total_err < grad_tol, what + ": the model's gradient matches the CPU", "rel err " + fmt(total_err));
  // Per tensor the bound is looser: q/k projections (and a k bias, whose gradient nearly cancels
  // in exact math: it shifts a query's scores almost uniformly) have gradients several times
  // smaller than their neighbours' with the same absolute bf16 noise, so their relative error is
  // larger. A wrong term would show as O(1).
  check(worst < 2.5 * grad_tol, what + ": every tensor's gradient matches the CPU",
        "worst rel err " + fmt(worst) + " (" + worst_name + ")");

  // Gradient scale and accumulation: a second call with grad_scale 0.5 adds half again.
  if (!check_accumulation) return;
  gpu->forward_backward(b.tokens.data(), b.targets.data(), b.batch, b.seq, 0.5);
  std::vector<float> acc = download_grads(*gpu);
  for (float& v : grads[1]) v *= 1.5f;
  const double acc_err = relative_error(acc.data(), grads[1].data(), acc.size());
  check(acc_err < 1e-5, what + ": gradients accumulate, scaled by grad_scale", "rel err " + fmt(acc_err));
}

}  // namespace

GPU_TEST(model_parity_tiny) {
  auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(false), 1);
  parity("tiny model", *cpu, make_batch(96, 2, 12, 7), 3e-2, true);
}

GPU_TEST(model_parity_tiny_bias_tied) {
  auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(true), 2);
  parity("tiny model, qkv bias + tied embeddings", *cpu, make_batch(96, 1, 12, 8), 3e-2, false);
}

GPU_TEST(model_parity_stories260k) {
  auto cpu = stories_model();
  if (!cpu) return tunesmith_test::skip("stories260K parity", "assets not found");
  parity("stories260K", *cpu, story_batch(16), 3e-2, false);
}

GPU_TEST(model_head_chunks) {
  // Chunked head (5 rows at a time, last chunk partial) against one chunk: the logits are the same
  // products row by row; the lm_head gradient sums chunks in another order (fp32: ~1e-6).
  auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(false), 3);
  const Batch b = make_batch(96, 1, 12, 9);
  auto gpu = GpuModel::upload(cpu->transformer());
  gpu->set_trainable({{0, gpu->layout().total}});
  const std::vector<float> one = gpu->logits(b.tokens.data(), b.batch, b.seq);
  const double loss_one = gpu->forward_backward(b.tokens.data(), b.targets.data(), b.batch, b.seq);
  const std::vector<float> g_one = download_grads(*gpu);
  gpu->set_ce_chunk_tokens(5);
  const std::vector<float> chunked = gpu->logits(b.tokens.data(), b.batch, b.seq);
  gpu->zero_grads();
  const double loss_chunked = gpu->forward_backward(b.tokens.data(), b.targets.data(), b.batch, b.seq);
  const std::vector<float> g_chunked = download_grads(*gpu);
  check(max_abs_diff(one, chunked) == 0.0, "chunked head: same logits");
  check(std::fabs(loss_one - loss_chunked) < 1e-6, "chunked head: same loss",
        fmt(loss_one) + " vs " + fmt(loss_chunked));
  const double e = relative_error(g_chunked.data(), g_one.data(), g_one.size());
  check(e < 1e-5, "chunked head: same gradients", "rel err " + fmt(e));
}

GPU_TEST(model_perturbation_and_random) {
  auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(true), 4);
  const Batch b = make_batch(96, 1, 16, 10);
  auto gpu = GpuModel::upload(cpu->transformer());
  const std::vector<float> before = gpu->download_params();
  const double base = gpu->loss(b.tokens.data(), b.targets.data(), b.batch, b.seq);
  GpuPerturbation zero{0.0f, 5}, plus{1e-2f, 5};
  const double same = gpu->loss(b.tokens.data(), b.targets.data(), b.batch, b.seq, &zero);
  const double perturbed = gpu->loss(b.tokens.data(), b.targets.data(), b.batch, b.seq, &plus);
  check(same == base, "perturbation of scale 0 is the plain forward");
  check(perturbed != base, "a perturbed forward sees other weights", fmt(perturbed) + " vs " + fmt(base));
  check(gpu->download_params() == before, "perturbed forward leaves the parameters bit-identical");
  check(gpu->loss(b.tokens.data(), b.targets.data(), b.batch, b.seq) == base, "the loss after perturbing is the same");

  // Perturbed loss against the CPU on bf16(θ + scale·z), z from philox on the host.
  float* p = cpu->parameters();
  for (size_t i = 0; i < cpu->num_parameters(); ++i)
    p[i] = round_bf16(p[i] + plus.scale * philox_normal(plus.seed, kStreamPerturbation, uint64_t(i)));
  const double cpu_perturbed = cpu->transformer().forward(b.tokens.data(), b.targets.data(), b.batch, b.seq, false);
  check(std::fabs(cpu_perturbed - perturbed) < 1e-2 * cpu_perturbed, "perturbed loss matches the CPU on θ + scale·z",
        "gpu " + fmt(perturbed) + " cpu " + fmt(cpu_perturbed));

  // Random init: a pure function of (seed, offset); norms 1, biases 0.
  const LlamaConfig c = tiny_config(true);
  auto r1 = GpuModel::random(c, 11, 0.02f);
  auto r2 = GpuModel::random(c, 11, 0.02f);
  const std::vector<float> w = r1->download_params();
  check(w == r2->download_params(), "random(): same seed, same weights");
  bool ok = true;
  for (const ParamInfo& info : r1->layout().params)
    for (int64_t i = 0; i < info.numel; i += 37) {
      const size_t at = info.offset + size_t(i);
      const bool is_norm = info.name.find("norm") != std::string::npos;
      const bool is_bias = info.name.find(".bias") != std::string::npos;
      const float want = is_norm ? 1.0f : is_bias ? 0.0f : round_bf16(0.02f * philox_normal(11, kStreamInit, at));
      if (w[at] != want) ok = false;
    }
  check(ok, "random(): N(0, std) by flat offset, norms 1, biases 0");
}

GPU_TEST(model_release_linear_weights) {
  auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(false), 5);
  auto gpu = GpuModel::upload(cpu->transformer());
  cpu->transformer().release_linear_weights();
  gpu->release_linear_weights();
  const ParameterLayout& a = gpu->layout();
  const ParameterLayout& e = cpu->layout();
  bool same = a.total == e.total && a.params.size() == e.params.size() && a.embed == e.embed &&
              a.lm_head == e.lm_head && a.final_norm == e.final_norm;
  for (size_t i = 0; same && i < a.params.size(); ++i) same = a.params[i].offset == e.params[i].offset;
  check(same, "release_linear_weights compacts the layout as the CPU does");
  const std::vector<float> kept = gpu->download_params();
  bool values = kept.size() == e.total;
  for (size_t i = 0; values && i < kept.size(); ++i) values = kept[i] == round_bf16(cpu->parameters()[i]);
  check(values, "release_linear_weights keeps the other parameters");
  const Batch b = make_batch(96, 1, 8, 11);
  bool threw = false;
  try {
    gpu->loss(b.tokens.data(), b.targets.data(), 1, 8);
  } catch (const Error&) {
    threw = true;
  }
  check(threw, "a released Linear without an adapter is an error");
  std::vector<int32_t> bad = b.tokens;
  bad[3] = 96;
  threw = false;
  try {
    gpu->loss(bad.data(), nullptr, 1, 8);
  } catch (const Error& err) {
    threw = std::string(err.what()).find("outside the vocabulary") != std::string::npos;
  }
  check(threw, "token ids are checked against the vocabulary");
}

GPU_TEST(trainer_full_tracks_cpu) {
  auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(true), 6);
  const Batch b = make_batch(96, 1, 16, 12);
  auto gpu = GpuModel::upload(cpu->transformer());
  TrainOptions o;
  o.optimizer.lr = 1e-2;
  o.max_grad_norm = 1.0;
  Trainer cpu_trainer(*cpu, o);
  GpuTrainConfig g;
  g.method = GpuMethod::Full;
  g.lr = 1e-2;
  g.max_grad_norm = 1.0;
  GpuTrainer trainer(*gpu, g);
  check(trainer.trainable_parameters() == int64_t(gpu->layout().total), "full: every parameter trains");
  // bf16 weights updated with stochastic rounding follow fp32 updates to ~1 ulp per step (~0.4%
  // of a 0.1 weight), and the loss carries the bf16 forward's ~0.5% error: 3% of the loss drop.
  std::string losses;
  double worst = 0, first_cpu = 0, last_cpu = 0, last_gpu = 0;
  for (int s = 0; s < 3; ++s) {
    const StepResult rc = cpu_trainer.step({b.train});
    const GpuStepResult rg = trainer.step(b.tokens.data(), b.targets.data(), b.batch, b.seq);
    worst = std::max(worst, std::fabs(rc.loss - rg.loss) / rc.loss);
    losses += fmt(rg.loss) + "/" + fmt(rc.loss) + " ";
    if (s == 0) {
      first_cpu = rc.loss;
      check(std::fabs(rg.grad_norm - rc.grad_norm) < 3e-2 * rc.grad_norm, "full: gradient norm matches the CPU",
            fmt(rg.grad_norm) + " vs " + fmt(rc.grad_norm));
    }
    last_cpu = rc.loss, last_gpu = rg.loss;
  }
  check(worst < 1e-2 && last_gpu < first_cpu - 0.1 && last_cpu < first_cpu - 0.1,
        "full: the GPU loss follows the CPU's down", "gpu/cpu " + losses + "worst rel " + fmt(worst));
}

GPU_TEST(trainer_lisa_tracks_cpu_and_memory) {
  auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(false), 7);
  const Batch b = make_batch(96, 1, 16, 13);
  auto gpu = GpuModel::upload(cpu->transformer());
  // Allocate the shape's training buffers first, so the trainer's own bytes can be measured.
  gpu->set_trainable({});
  gpu->forward_backward(b.tokens.data(), b.targets.data(), b.batch, b.seq);
  {  // sum_squares_f32 keeps a process-wide partials buffer from its first call: not the trainer's
    DeviceBuffer<float> one(1, "warm-up");
    sum_squares_f32(one.data(), 1);
  }
  const int64_t live0 = device_memory_stats().live_bytes;

  LisaOptions lo;
  lo.gamma = 1;
  lo.period_k = 2;
  lo.seed = 0;  // the first seed whose second interval trains the other layer (exercises a switch)
  while (lisa_active_layers(lo, 2, 0) == lisa_active_layers(lo, 2, 2)) ++lo.seed;
  TrainOptions o;
  o.optimizer.lr = 1e-2;
  LisaTrainer cpu_trainer(*cpu, lo, o);
  GpuTrainConfig g;
  g.method = GpuMethod::Lisa;
  g.lr = 1e-2;
  g.lisa_layers = 1;
  g.lisa_interval = 2;
  g.seed = lo.seed;
  GpuTrainer trainer(*gpu, g);
  const ParameterLayout& layout = gpu->layout();
  const size_t layer_count = layout.layers[1].input_norm - layout.layers[0].input_norm;
  const size_t active = layout.total - layer_count;  // 2 layers, 1 active
  check(trainer.trainable_parameters() == int64_t(active), "lisa: trainable parameters = always + gamma layers");
  std::string losses;
  double worst = 0;
  bool layers_match = true, memory_ok = true;
  int64_t delta = 0;
  for (int s = 0; s < 3; ++s) {
    const LisaStepResult rc = cpu_trainer.step({b.train});
    const GpuStepResult rg = trainer.step(b.tokens.data(), b.targets.data(), b.batch, b.seq);
    layers_match = layers_match && rc.active_layers == rg.active_layers;
    worst = std::max(worst, std::fabs(rc.loss - rg.loss) / rc.loss);
    losses += fmt(rg.loss) + "/" + fmt(rc.loss) + "[" + std::to_string(rg.active_layers.at(0)) + "] ";
    // Gradients (fp32) and AdamW m, v (fp32) for the active ranges only: 12 bytes a parameter.
    delta = device_memory_stats().live_bytes - live0;
    memory_ok = memory_ok && delta == int64_t(12 * active);
  }
  check(layers_match, "lisa: the same layers as the CPU trainer at every step", losses);
  check(memory_ok, "lisa: gradients and states only for the active ranges",
        "live delta " + std::to_string(delta) + " bytes, expected " + std::to_string(12 * active));
  check(worst < 1e-2, "lisa: the GPU loss follows the CPU's", "gpu/cpu " + losses + "worst rel " + fmt(worst));
}

GPU_TEST(trainer_zo_sgd) {
  auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(false), 8);
  const Batch b = make_batch(96, 1, 16, 14);
  auto gpu = GpuModel::upload(cpu->transformer());
  GpuTrainConfig g;
  g.method = GpuMethod::ZoSgd;
  g.lr = 1e-3;
  g.zo_eps = 5e-2;  // large enough that L(θ+εz) − L(θ−εz) stands well above the bf16 forward's noise
  g.seed = 21;
  GpuTrainer trainer(*gpu, g);
  const std::vector<float> theta = gpu->download_params();
  const GpuStepResult r = trainer.step(b.tokens.data(), b.targets.data(), b.batch, b.seq);

  // CPU reference of the projected gradient on bf16(θ ± ε·z), z = philox on the host.
  const uint64_t seed_t = perturbation_key(g.seed, 0, 0);
  const size_t total = theta.size();
  std::vector<float> z(total);
  for (size_t i = 0; i < total; ++i) z[i] = philox_normal(seed_t, kStreamPerturbation, uint64_t(i));
  double l[2];
  for (int s = 0; s < 2; ++s) {
    const float scale = s == 0 ? float(g.zo_eps) : -float(g.zo_eps);
    for (size_t i = 0; i < total; ++i) cpu->parameters()[i] = round_bf16(theta[i] + scale * z[i]);
    l[s] = cpu->transformer().forward(b.tokens.data(), b.targets.data(), b.batch, b.seq, false);
  }
  const double g_ref = (l[0] - l[1]) / (2.0 * g.zo_eps);
  // The difference of two losses that each carry ~0.5% bf16 noise, divided by 2ε: a 15% band.
  check(std::fabs(r.grad_norm - std::fabs(g_ref)) < 0.15 * std::fabs(g_ref),
        "zo-sgd: projected gradient matches the CPU on the same z",
        "gpu |g| " + fmt(r.grad_norm) + " cpu g " + fmt(g_ref) + "; loss+ gpu " + fmt(r.loss) + " cpu " + fmt(l[0]));
  // The update: θ − lr·g·z, stochastically rounded (within one bf16 ulp of the exact value).
  const std::vector<float> after = gpu->download_params();
  const double g_gpu = r.grad_norm * (g_ref < 0 ? -1.0 : 1.0);
  bool ok = true;
  for (size_t i = 0; i < total; ++i) {
    const double exact = double(theta[i]) - g.lr * g_gpu * double(z[i]);
    const double ulp = std::ldexp(1.0, std::ilogb(std::max(std::fabs(exact), 1e-30)) - 7);
    if (std::fabs(double(after[i]) - exact) > 1.01 * ulp) ok = false;
  }
  check(ok, "zo-sgd: θ moves by −lr·g·z within one bf16 ulp");
  check(gpu->trainable().empty(), "zo-sgd: no gradient storage");
  double first = r.loss, last = 0;
  for (int s = 0; s < 2; ++s) last = trainer.step(b.tokens.data(), b.targets.data(), b.batch, b.seq).loss;
  check(std::isfinite(last), "zo-sgd: later steps stay finite", fmt(first) + " -> " + fmt(last));
}

GPU_TEST(trainer_methods_and_schedule) {
  check(parse_gpu_method("zo-sgd") == GpuMethod::ZoSgd && std::string(gpu_method_name(GpuMethod::Lisa)) == "lisa",
        "method names round-trip");
  bool threw = false;
  try {
    parse_gpu_method("adam");
  } catch (const Error&) {
    threw = true;
  }
  check(threw, "unknown method names are refused");
  auto gpu = GpuModel::random(tiny_config(false), 3);
  GpuTrainConfig g;
  g.method = GpuMethod::Full;
  g.lr = 1e-3;
  g.warmup_steps = 2;
  g.total_steps = 6;
  g.bf16_optimizer_states = true;
  const int64_t live0 = device_memory_stats().live_bytes;
  GpuTrainer trainer(*gpu, g);
  // fp32 gradients + bf16 m and v: 8 bytes a parameter.
  check(device_memory_stats().live_bytes - live0 == int64_t(8 * gpu->layout().total),
        "bf16 optimizer states: 2 bytes each for m and v");
  const Batch b = make_batch(96, 1, 8, 15);
  ScheduleOptions so;
  so.kind = ScheduleOptions::Kind::Cosine;
  so.warmup_steps = 2;
  so.total_steps = 6;
  bool ok = true;
  for (int s = 0; s < 4; ++s) {
    const GpuStepResult r = trainer.step(b.tokens.data(), b.targets.data(), 1, 8);
    ok = ok && r.step == s + 1 && std::fabs(r.lr - 1e-3 * schedule_lr_factor(so, s)) < 1e-15;
  }
  check(ok, "warmup then cosine: the CPU trainer's schedule");
  const GpuStepResult last = trainer.step(b.tokens.data(), b.targets.data(), 1, 8);
  check(std::isfinite(last.loss) && last.grad_norm > 0, "bf16 optimizer states train", fmt(last.loss));
}

GPU_TEST(trainer_lora_and_qlora) {
  // The adapter paths of the trainer: the base stays bit-identical, the loss falls (LoRA), and
  // QLoRA's NF4 base gives a loss close to the bf16 base's (4-bit weights: a few percent).
  auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(false), 9);
  const Batch b = make_batch(96, 1, 8, 16);
  double first_loss[2] = {0, 0};
  for (int q = 0; q < 2; ++q) {
    auto gpu = GpuModel::upload(cpu->transformer());
    const std::vector<float> base = gpu->download_params();
    GpuTrainConfig g;
    g.method = q ? GpuMethod::Qlora : GpuMethod::Lora;
    g.lr = 1e-2;
    g.lora_rank = 4;
    g.lora_alpha = 8;
    g.max_grad_norm = 1.0;
    GpuTrainer trainer(*gpu, g);
    const std::string what = q ? "qlora" : "lora";
    check(trainer.trainable_parameters() > 0 && gpu->trainable().empty(),
          what + ": adapter parameters train, the base has no gradient storage");
    const GpuStepResult r1 = trainer.step(b.tokens.data(), b.targets.data(), 1, 8);
    GpuStepResult r3;
    for (int s = 0; s < 2; ++s) r3 = trainer.step(b.tokens.data(), b.targets.data(), 1, 8);
    first_loss[q] = r1.loss;
    check(r3.loss < r1.loss && r1.grad_norm > 0, what + ": the loss falls", fmt(r1.loss) + " -> " + fmt(r3.loss));
    if (!q) check(gpu->download_params() == base, "lora: the base parameters are untouched");
  }
  check(std::fabs(first_loss[1] - first_loss[0]) < 0.05 * first_loss[0], "qlora: NF4 base close to the bf16 base",
        fmt(first_loss[1]) + " vs " + fmt(first_loss[0]));
}
