// GpuLora attached to a GpuModel against the CPU engine's LoRA / QLoRA (train/lora.h) on a tiny
// random Llama whose CPU parameters are rounded to bf16 first, so both engines start from the same
// base weights and the same adapter A (the GPU reproduces the CPU's seeded initialisation).
//
// Tolerances. The GPU keeps activations in bf16 (≤ 2^-9 relative per rounding, ~10 roundings a
// layer) and runs the adapter products on bf16 copies of A and B; gradients reach the adapters
// through bf16 dy/dh/datt operands. As in test_gpu_model.cpp, logits are held to 2e-2 (‖Δ‖/‖ref‖).
// Adapter gradients: 5e-2 over all adapters and 0.12 for the worst single A or B. The per-module
// spread is 2-10%: layer 0's q/k adapters see dq/dk after two attention backwards (the full
// model's q/k weight gradients are the noisiest there too) plus the adapter's own bf16 u, du and
// A/B copies; a routing or math error shows as O(1) (the single-Linear math is held to <1% in
// test_gpu_lora.cpp). NF4 dequantization is held bit-exact after bf16 rounding.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/rng.h"
#include "gpu/device_memory.h"
#include "gpu/model/gpu_model.h"
#include "gpu/train/gpu_lora.h"
#include "gpu_test.h"
#include "gpu_test_models.h"
#include "model/model.h"
#include "train/lora.h"
#include "train/trainer.h"

using namespace tunesmith;
using namespace tunesmith::gpu;
using tunesmith_test::check;
using tunesmith_test::round_bf16;
using tunesmith_test::fmt;
using tunesmith_test::relative_error;

namespace {

const std::vector<LinearSlot> kAllSlots = {LinearSlot::Q,    LinearSlot::K,  LinearSlot::V,   LinearSlot::O,
                                           LinearSlot::Gate, LinearSlot::Up, LinearSlot::Down};

LlamaConfig tiny_config(bool qkv_bias) { return tunesmith_test::tiny_gpu_test_config(qkv_bias, false); }

struct Batch {
  int64_t batch = 0, seq = 0;
  std::vector<int32_t> tokens, targets;
  TrainBatch train;
};

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
  b.train.loss_mask[2] = 0;
  b.targets = make_targets(b.train);
  return b;
}

GpuLoraConfig gpu_config(bool qlora, double dropout = 0.0) {
  GpuLoraConfig g;
  g.rank = 4;
  g.alpha = 8.0;
  g.targets = kAllSlots;
  g.quantize_base = qlora;
  g.dropout = dropout;
  g.seed = 42;
  return g;
}

LoraConfig cpu_config(bool qlora) {
  LoraConfig c;
  c.r = 4;
  c.alpha = 8.0;
  c.targets = kAllSlots;
  c.quantize_base_nf4 = qlora;
  c.seed = 42;
  return c;
}

// Gives both adapters the same bf16-representable A (the shared init, rounded) and a small random
// B, so gradients of A are non-zero and both engines multiply by identical values.
void set_same_adapters(LoraAdapter& cpu, GpuLora& gpu, uint64_t seed) {
  Rng rng(seed);
  LoraLinears<float>& lin = cpu.linears();
  for (const auto& m : lin.modules()) {
    std::vector<float> a(lin.params() + m.a, lin.params() + m.a + size_t(lin.config().r * m.in));
    std::vector<float> b(size_t(m.out * lin.config().r));
    for (float& v : a) v = round_bf16(v);
    for (float& v : b) v = round_bf16(float(0.2 * rng.normal()));
    std::copy(a.begin(), a.end(), lin.params() + m.a);
    std::copy(b.begin(), b.end(), lin.params() + m.b);
    gpu.upload_a(m.layer, m.slot, a);
    gpu.upload_b(m.layer, m.slot, b);
  }
}

// Adapter gradients of every module vs the CPU: worst per-module ‖Δ‖/‖ref‖ and the whole set's.
void compare_grads(const std::string& what, LoraAdapter& cpu, GpuLora& gpu, double module_tol, double total_tol) {
  LoraLinears<float>& lin = cpu.linears();
  std::vector<float> all_gpu, all_cpu;
  double worst = 0;
  std::string worst_name;
  for (const auto& m : lin.modules()) {
    for (int part = 0; part < 2; ++part) {
      const std::vector<float> g = part == 0 ? gpu.download_grad_a(m.layer, m.slot) : gpu.download_grad_b(m.layer, m.slot);
      const float* c = lin.grads() + (part == 0 ? m.a : m.b);
      const double e = relative_error(g.data(), c, g.size());
      if (std::getenv("LORA_VERBOSE"))
        std::printf("  %s layer %lld %s %s rel err %.4f\n", what.c_str(), (long long)m.layer, linear_slot_name(m.slot),
                    part == 0 ? "A" : "B", e);
      if (e > worst) {
        worst = e;
        worst_name = "layer " + std::to_string(m.layer) + " " + linear_slot_name(m.slot) + (part == 0 ? " A" : " B");
      }
      all_gpu.insert(all_gpu.end(), g.begin(), g.end());
      all_cpu.insert(all_cpu.end(), c, c + g.size());
    }
  }
  const double total = relative_error(all_gpu.data(), all_cpu.data(), all_gpu.size());
  check(worst < module_tol && total < total_tol, what + ": adapter gradients match the CPU",
        "worst module rel err " + fmt(worst) + " (" + worst_name + "), all adapters " + fmt(total));
}

// (layer, slot)'s base weight as the override computes with it: forward on the identity with
// B = 0 gives y = I·Wᵀ = Wᵀ exactly (one non-zero product per output, bf16 in and out).
std::vector<float> effective_base_weight(GpuLora& lora, int64_t layer, LinearSlot slot, int64_t in, int64_t out) {
  std::vector<bf16> eye(size_t(in * in), float_to_bf16(0.0f));
  for (int64_t i = 0; i < in; ++i) eye[size_t(i * in + i)] = float_to_bf16(1.0f);
  DeviceBuffer<bf16> d_eye(eye.size(), "identity"), d_y(size_t(in * out), "y");
  d_eye.upload(eye.data(), eye.size());
  lora.forward(layer, slot, d_y.data(), d_eye.data(), nullptr, nullptr, in, in, out);
  const std::vector<bf16> wt = d_y.download();  // [in, out]
  std::vector<float> w(size_t(out * in));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) w[size_t(o * in + i)] = bf16_to_float(wt[size_t(i * out + o)]);
  return w;
}

}  // namespace

GPU_TEST(lora_model_init_and_grads_match_cpu) {
  for (bool bias : {false, true}) {
    const std::string what = bias ? "lora (qkv bias)" : "lora";
    auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(bias), 21);
    auto gpu = GpuModel::upload(cpu->transformer());
    auto cpu_lora = attach_lora(*cpu, cpu_config(false));
    GpuLora lora(*gpu, gpu_config(false));
    const LoraLinears<float>& lin = cpu_lora->linears();
    check(lora.trainable_parameters() == int64_t(lin.num_params()), what + ": trainable parameter count matches the CPU",
          std::to_string(lora.trainable_parameters()) + " vs " + std::to_string(lin.num_params()));
    bool same_init = true;
    for (const auto& m : lin.modules()) {
      const std::vector<float> a = lora.download_a(m.layer, m.slot), b = lora.download_b(m.layer, m.slot);
      same_init = same_init && std::equal(a.begin(), a.end(), lin.params() + m.a);
      for (float v : b) same_init = same_init && v == 0.0f;
    }
    check(same_init, what + ": A bit-identical to the CPU's seeded init, B zero");
    check(gpu->trainable().empty(), what + ": the base is frozen (no model gradient ranges)");

    // A fresh adapter (B = 0) leaves the logits of the base model unchanged.
    const Batch b = make_batch(96, 2, 10, 5);
    {
      auto plain = GpuModel::upload(cpu->transformer());
      const std::vector<float> base = plain->logits(b.tokens.data(), b.batch, b.seq);
      const std::vector<float> adapted = gpu->logits(b.tokens.data(), b.batch, b.seq);
      check(base == adapted, what + ": B = 0 leaves the logits bit-identical to the base model");
    }

    set_same_adapters(*cpu_lora, lora, 77);
    const std::vector<float> lc = cpu->logits(b.tokens, b.batch, b.seq);
    const std::vector<float> lg = gpu->logits(b.tokens.data(), b.batch, b.seq);
    const double le = relative_error(lg.data(), lc.data(), lc.size());
    check(le < 2e-2, what + ": logits with a non-zero adapter match the CPU", "rel err " + fmt(le));

    const double loss_cpu = cpu->forward_backward(b.train);
    gpu->set_checkpointing(true);
    const double loss_gpu = gpu->forward_backward(b.tokens.data(), b.targets.data(), b.batch, b.seq);
    check(std::fabs(loss_gpu - loss_cpu) < 1e-2 * loss_cpu, what + ": loss matches the CPU",
          fmt(loss_gpu) + " vs " + fmt(loss_cpu));
    compare_grads(what, *cpu_lora, lora, 0.12, 5e-2);

    // Checkpointing recomputes the same forward: bit-identical adapter gradients.
    const std::vector<float> ga = lora.download_grad_a(1, LinearSlot::Down), gb = lora.download_grad_b(0, LinearSlot::Q);
    const double ss = lora.grad_sum_squares();
    lora.zero_grads();
    check(lora.grad_sum_squares() == 0.0, what + ": zero_grads clears every gradient");
    gpu->set_checkpointing(false);
    gpu->forward_backward(b.tokens.data(), b.targets.data(), b.batch, b.seq);
    check(lora.download_grad_a(1, LinearSlot::Down) == ga && lora.download_grad_b(0, LinearSlot::Q) == gb &&
              lora.grad_sum_squares() == ss,
          what + ": checkpointing on and off give bit-identical adapter gradients");
    double ss_cpu = 0;
    for (size_t i = 0; i < lin.num_params(); ++i) ss_cpu += double(cpu_lora->linears().grads()[i]) * cpu_lora->linears().grads()[i];
    check(std::fabs(ss - ss_cpu) < 4e-2 * ss_cpu, what + ": grad_sum_squares matches the CPU's Σg²",
          fmt(ss) + " vs " + fmt(ss_cpu));
  }
}

GPU_TEST(lora_model_dropout_recompute_and_eval) {
  // Dropout masks are keyed on the step, so a checkpointed backward (forward recomputed) must
  // produce exactly the gradients of the stored path; evaluation forwards use no dropout.
  auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(false), 23);
  const Batch b = make_batch(96, 1, 12, 6);
  std::vector<float> grads[2];
  std::vector<float> logits_plain;
  for (int ckpt = 0; ckpt < 2; ++ckpt) {
    auto gpu = GpuModel::upload(cpu->transformer());
    gpu->set_checkpointing(ckpt == 1);
    GpuLora lora(*gpu, gpu_config(false, 0.3));
    Rng rng(5);
    for (int64_t l = 0; l < 2; ++l)
      for (LinearSlot s : kAllSlots) {
        std::vector<float> bv = lora.download_b(l, s);
        for (float& v : bv) v = float(0.2 * rng.normal());
        lora.upload_b(l, s, bv);
      }
    gpu->forward_backward(b.tokens.data(), b.targets.data(), b.batch, b.seq);
    for (int64_t l = 0; l < 2; ++l)
      for (LinearSlot s : kAllSlots) {
        const std::vector<float> ga = lora.download_grad_a(l, s), gb = lora.download_grad_b(l, s);
        grads[ckpt].insert(grads[ckpt].end(), ga.begin(), ga.end());
        grads[ckpt].insert(grads[ckpt].end(), gb.begin(), gb.end());
      }
    const std::vector<float> e1 = gpu->logits(b.tokens.data(), b.batch, b.seq);
    const std::vector<float> e2 = gpu->logits(b.tokens.data(), b.batch, b.seq);
    check(e1 == e2, "lora dropout: evaluation forwards are deterministic (no dropout outside training)");
  }
  check(grads[0] == grads[1], "lora dropout: checkpointed backward redraws the forward's masks (bit-identical grads)");
}

GPU_TEST(qlora_model_matches_cpu) {
  auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(false), 31);
  // What a plain LoRA adds to the device, for the memory check below.
  int64_t lora_added = 0;
  {
    auto plain = GpuModel::upload(cpu->transformer());
    const int64_t before = device_memory_stats().live_bytes;
    GpuLora plain_lora(*plain, gpu_config(false));
    lora_added = device_memory_stats().live_bytes - before;
  }
  auto gpu = GpuModel::upload(cpu->transformer());
  const size_t total_before = gpu->layout().total;
  const int64_t mem_before = device_memory_stats().live_bytes;
  auto cpu_lora = attach_lora(*cpu, cpu_config(true));
  GpuLora lora(*gpu, gpu_config(true));
  const int64_t qlora_added = device_memory_stats().live_bytes - mem_before;
  check(lora.quantized_base_bytes() == int64_t(cpu_lora->linears().nf4_storage_bytes()),
        "qlora: NF4 storage bytes match the CPU's", std::to_string(lora.quantized_base_bytes()) + " vs " +
                                                         std::to_string(cpu_lora->linears().nf4_storage_bytes()));
  check(gpu->layout().total == cpu->layout().total, "qlora: the model's bf16 Linear weights are released");
  // QLoRA's bytes = LoRA's - the released bf16 weights + NF4 storage (its fp32 offset per tensor,
  // counted in quantized_base_bytes as on the CPU, lives on the host) + the 256-entry code map +
  // one shared bf16 scratch for the largest Linear (the tiny model's gate/up/down, 88·32).
  const LlamaConfig mc = tiny_config(false);
  const int64_t released = int64_t(total_before - gpu->layout().total) * int64_t(sizeof(bf16));
  const int64_t nf4_device = lora.quantized_base_bytes() - mc.num_layers * kNumLinearSlots * int64_t(sizeof(float));
  const int64_t expected = lora_added - released + nf4_device + 256 * int64_t(sizeof(float)) +
                           mc.intermediate_size * mc.hidden_size * int64_t(sizeof(bf16));
  check(qlora_added == expected, "qlora: device bytes = LoRA's - released bf16 weights + NF4 + code map + scratch",
        "added " + std::to_string(qlora_added) + " (LoRA " + std::to_string(lora_added) + ", released " +
            std::to_string(released) + ") expected " + std::to_string(expected));

  // The dequantized base the GPU multiplies by = the CPU's quantize_nf4 → dequantize_nf4, rounded to bf16.
  lora.begin_forward(false);
  const LlamaConfig c = tiny_config(false);
  bool exact = true;
  std::string first_bad;
  for (int64_t l = 0; l < c.num_layers; ++l)
    for (LinearSlot s : kAllSlots) {
      const Nf4Tensor* q = cpu_lora->linears().base_nf4(l, s);
      std::vector<float> want(size_t(q->numel));
      dequantize_nf4(*q, want.data());
      const int64_t out = q->shape[0], in = q->shape[1];
      const std::vector<float> got = effective_base_weight(lora, l, s, in, out);
      for (size_t i = 0; i < want.size(); ++i)
        if (got[i] != round_bf16(want[i])) {
          if (exact) first_bad = "layer " + std::to_string(l) + " " + linear_slot_name(s) + " element " + std::to_string(i);
          exact = false;
          break;
        }
    }
  check(exact, "qlora: GPU dequantized weights = bf16(CPU dequantize_nf4) bit for bit", first_bad);

  const Batch b = make_batch(96, 2, 10, 8);
  set_same_adapters(*cpu_lora, lora, 78);
  const std::vector<float> lc = cpu->logits(b.tokens, b.batch, b.seq);
  const std::vector<float> lg = gpu->logits(b.tokens.data(), b.batch, b.seq);
  const double le = relative_error(lg.data(), lc.data(), lc.size());
  check(le < 2e-2, "qlora: logits match the CPU QLoRA engine", "rel err " + fmt(le));
  const double loss_cpu = cpu->forward_backward(b.train);
  const double loss_gpu = gpu->forward_backward(b.tokens.data(), b.targets.data(), b.batch, b.seq);
  check(std::fabs(loss_gpu - loss_cpu) < 1e-2 * loss_cpu, "qlora: loss matches the CPU",
        fmt(loss_gpu) + " vs " + fmt(loss_cpu));
  compare_grads("qlora", *cpu_lora, lora, 0.12, 5e-2);
}

GPU_TEST(lora_adamw_tracks_cpu_trainer) {
  for (bool qlora : {false, true}) {
    const std::string what = qlora ? "qlora" : "lora";
    auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(false), 41);
    auto gpu = GpuModel::upload(cpu->transformer());
    auto cpu_lora = attach_lora(*cpu, cpu_config(qlora));
    GpuLora lora(*gpu, gpu_config(qlora));
    TrainOptions o;
    o.optimizer.lr = 1e-2;
    Trainer cpu_trainer(*cpu, o);
    const Batch b = make_batch(96, 2, 10, 9);
    // The adapters are fp32 on both sides and AdamW is the same elementwise update; what differs
    // is the bf16 forward (~0.5% of the loss): 1% per step, and the loss must go down on both.
    std::string losses;
    double worst = 0, first_cpu = 0, last_cpu = 0, last_gpu = 0;
    for (int s = 0; s < 4; ++s) {
      const StepResult rc = cpu_trainer.step({b.train});
      lora.zero_grads();
      const double lg = gpu->forward_backward(b.tokens.data(), b.targets.data(), b.batch, b.seq);
      AdamWHyper h;
      h.lr = 1e-2f;
      h.step = s + 1;
      lora.adamw_step(h);
      worst = std::max(worst, std::fabs(rc.loss - lg) / rc.loss);
      losses += fmt(lg) + "/" + fmt(rc.loss) + " ";
      if (s == 0) first_cpu = rc.loss;
      last_cpu = rc.loss, last_gpu = lg;
    }
    check(worst < 1e-2 && last_gpu < first_cpu - 0.05 && last_cpu < first_cpu - 0.05,
          what + ": AdamW steps follow the CPU LoRA trainer's loss down", "gpu/cpu " + losses + "worst rel " + fmt(worst));
    // After 4 steps the fp32 adapters agree to the gradients' noise: Adam's first steps move each
    // element by ~lr whatever the gradient's size, so elements whose gradient is near zero can move
    // either way: 10% (‖Δ‖/‖ref‖) on B, which started at zero.
    const auto& m = cpu_lora->linears().modules().back();
    const std::vector<float> bg = lora.download_b(m.layer, m.slot);
    const double eb = relative_error(bg.data(), cpu_lora->linears().params() + m.b, bg.size());
    check(eb < 0.1, what + ": trained B of the last module matches the CPU's", "rel err " + fmt(eb));
  }
}

// QLoRA without a bf16 copy of the model on the card: a model made with linear_weights = false
// produces each Linear weight on request while the adapter quantizes it, so it ends up with the
// same NF4 base (same logits, bit for bit) as one quantized from held weights, and the card's peak
// while attaching never includes the whole bf16 model.
GPU_TEST(qlora_streaming_quantization) {
  auto cpu = tunesmith_test::tiny_cpu_model(tiny_config(false), 41);
  const Batch b = make_batch(96, 1, 12, 9);
  std::vector<float> held_logits;
  int64_t held_peak = 0;
  {
    reset_device_peaks();
    const int64_t start = device_memory_stats().live_bytes;
    auto gpu = GpuModel::upload(cpu->transformer());
    GpuLora lora(*gpu, gpu_config(true));
    held_peak = device_memory_stats().peak_bytes - start;
    held_logits = gpu->logits(b.tokens.data(), b.batch, b.seq);
  }
  reset_device_peaks();
  const int64_t start = device_memory_stats().live_bytes;
  auto gpu = GpuModel::upload(cpu->transformer(), false);
  check(!gpu->holds_linear_weights(), "qlora streaming: the model starts without its Linear weights");
  GpuLora lora(*gpu, gpu_config(true));
  const int64_t streamed_peak = device_memory_stats().peak_bytes - start;
  const std::vector<float> logits = gpu->logits(b.tokens.data(), b.batch, b.seq);
  check(logits == held_logits, "qlora streaming: logits identical to quantizing held weights");
  const LlamaConfig c = tiny_config(false);
  const int64_t linear_bytes = int64_t(c.num_layers) *
                               (2 * c.hidden_size * c.num_heads * c.head_dim + 2 * c.hidden_size * c.num_kv_heads * c.head_dim +
                                3 * c.hidden_size * c.intermediate_size) *
                               int64_t(sizeof(bf16));
  check(held_peak - streamed_peak >= linear_bytes, "qlora streaming: peak while attaching is lower by the bf16 Linear weights",
        "held " + std::to_string(held_peak) + " streamed " + std::to_string(streamed_peak) + " bf16 linears " +
            std::to_string(linear_bytes));

  // Random models: the Linear weights made on request equal those of a model that holds them.
  LlamaConfig rc = tiny_config(false);
  auto full = GpuModel::random(rc, 5, 0.02f, true);
  auto lean = GpuModel::random(rc, 5, 0.02f, false);
  DeviceBuffer<bf16> a(size_t(rc.intermediate_size * rc.hidden_size), "a"), d(a.size(), "d");
  bool same = true;
  for (int64_t l = 0; l < rc.num_layers; ++l)
    for (LinearSlot s : kAllSlots) {
      full->linear_weight(l, s, a.data());
      lean->linear_weight(l, s, d.data());
      const std::vector<bf16> x = a.download(), y = d.download();
      for (size_t i = 0; i < x.size(); ++i) same = same && x[i].bits == y[i].bits;
    }
  check(same, "qlora streaming: a random model's Linear weights made on request equal the held ones");
  lean->release_linear_weights();
  bool threw = false;
  try {
    lean->linear_weight(0, LinearSlot::Q, d.data());
  } catch (const std::exception&) {
    threw = true;
  }
  check(threw, "qlora streaming: after release there is no source, and asking says so");
}
