// LoRA / QLoRA: adapter gradients (A, B, and the input gradient through both paths, seen in the
// embedding gradient) against central finite differences in float64; PEFT init leaves outputs
// unchanged; dropout masks regenerate identically under activation checkpointing; the NF4 base
// model equals the fp32 model holding the dequantized weights; memory per base parameter; ZO-SGD
// over the adapter's parameters (the shared TrainableView) lowers the loss with the base untouched;
// and training stories260K moves only the adapter (base weights bit-identical).
#include <cmath>
#include <cstring>
#include <vector>

#include "assets.h"
#include "check.h"
#include "core/error.h"
#include "core/memory.h"
#include "core/rng.h"
#include "cpu/cpu_backend.h"
#include "model/model.h"
#include "model/transformer.h"
#include "train/lora.h"
#include "train/trainer.h"
#include "train/zo.h"

using namespace tunesmith;
using tunesmith_test::check;
using tunesmith_test::fmt;
using tunesmith_test::relative_error;

namespace {

LlamaConfig tiny_config() {
  LlamaConfig c;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 4;
  c.vocab_size = 11;
  c.rms_norm_eps = 1e-5;
  return c;
}

// Freezes every base parameter except the embedding, whose gradient goes to `store`.
void route_embed_only(Transformer<double>& model, std::vector<double>& store) {
  const ParameterLayout& layout = model.layout();
  store.assign(size_t(model.config().vocab_size * model.config().hidden_size), 0.0);
  model.set_gradient_routes({{layout.embed, store.size(), store.data()}});
}

// d loss / d (LoRA params) and d loss / d embedding vs central differences, in float64.
void gradcheck_lora(const std::string& name, LoraConfig lc) {
  const LlamaConfig c = tiny_config();
  CpuBackend<double> backend(2);
  Transformer<double> model(c, backend);
  Rng rng(42);
  for (size_t i = 0; i < model.num_params(); ++i) model.params()[i] = rng.normal() * 0.5;
  LoraLinears<double> lora(c, lc, backend);
  for (size_t i = 0; i < lora.num_params(); ++i) lora.params()[i] = rng.normal() * 0.5;  // B non-zero
  if (lc.quantize_base_nf4)
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const LayerParamOffsets& o = model.layout().layers[size_t(l)];
      const size_t off[kNumLinearSlots] = {o.q, o.k, o.v, o.o, o.gate, o.up, o.down};
      for (int s = 0; s < kNumLinearSlots; ++s) lora.quantize_base(l, LinearSlot(s), model.params() + off[s]);
    }
  model.set_linear_override(&lora);
  std::vector<double> embed_grad;
  route_embed_only(model, embed_grad);
  if (lc.quantize_base_nf4) model.release_linear_weights(), route_embed_only(model, embed_grad);

  const int64_t batch = 2, seq = 5;
  std::vector<int32_t> tokens(batch * seq), targets(batch * seq);
  for (auto& t : tokens) t = int32_t(rng.next_u64() % c.vocab_size);
  for (size_t i = 0; i < targets.size(); ++i) targets[i] = (i % 4 == 1) ? -1 : int32_t(rng.next_u64() % c.vocab_size);
  // With dropout the masks depend on the training-forward count: pin it for every evaluation.
  const bool training = lc.dropout > 0;
  auto loss = [&] {
    lora.set_training_forwards(7);
    return model.forward(tokens.data(), targets.data(), batch, seq, training);
  };
  lora.set_training_forwards(7);
  model.forward(tokens.data(), targets.data(), batch, seq, true);
  model.ensure_grads();
  model.zero_grads();
  lora.zero_grads();
  model.backward(1.0);
  const size_t embed_numel = size_t(c.vocab_size * c.hidden_size);
  const bool no_base_grads = model.num_grads() == embed_numel;

  const double h = 1e-5;
  auto numeric_grad = [&](double* values, size_t count) {
    std::vector<double> g(count);
    for (size_t i = 0; i < count; ++i) {
      const double saved = values[i];
      values[i] = saved + h;
      const double up = loss();
      values[i] = saved - h;
      const double down = loss();
      values[i] = saved;
      g[i] = (up - down) / (2 * h);
    }
    return g;
  };
  const std::vector<double> num_lora = numeric_grad(lora.params(), lora.num_params());
  const std::vector<double> num_embed = numeric_grad(model.params() + model.layout().embed, embed_numel);
  const double err_lora = relative_error(lora.grads(), num_lora.data(), num_lora.size());
  const double err_embed = relative_error(model.grad_of(model.layout().embed), num_embed.data(), embed_numel);
  check(err_lora < 1e-6 && err_embed < 1e-6 && no_base_grads,
        "LoRA gradcheck " + name + " (" + std::to_string(lora.num_params()) + " adapter params)",
        "dA/dB rel err " + fmt(err_lora) + ", input-gradient path (dE) rel err " + fmt(err_embed) +
            (no_base_grads ? "" : ", base weights have gradients!"));
}

TrainBatch make_batch(const std::vector<int32_t>& tokens, int64_t batch, int64_t seq) {
  TrainBatch b;
  b.batch = batch;
  b.seq = seq;
  b.tokens = tokens;
  return b;
}

LlamaConfig small_config() {
  LlamaConfig c;
  c.hidden_size = 64, c.intermediate_size = 160, c.num_layers = 3, c.num_heads = 4, c.num_kv_heads = 2,
  c.head_dim = 16, c.vocab_size = 97, c.rms_norm_eps = 1e-5;
  return c;
}

}  // namespace

int main() {
  {
    LoraConfig lc;
    lc.targets = lora_target_preset("all-linear");
    lc.r = 2;
    lc.alpha = 3.0;
    gradcheck_lora("all-linear r=2 alpha=3", lc);
    lc.use_rslora = true;
    lc.targets = lora_target_preset("attention");
    gradcheck_lora("attention rsLoRA", lc);
    lc.use_rslora = false;
    lc.targets = {LinearSlot::V, LinearSlot::Down};
    lc.dropout = 0.3;
    gradcheck_lora("v,down with dropout 0.3 (masks pinned)", lc);
    lc.dropout = 0.0;
    lc.targets = {LinearSlot::Q, LinearSlot::Up};
    lc.quantize_base_nf4 = true;
    gradcheck_lora("QLoRA q,up over an NF4 base", lc);
  }
  {  // Config checks and presets.
    LoraConfig lc;
    lc.r = 16, lc.alpha = 32;
    const double s = lc.scaling();
    lc.use_rslora = true;
    check(s == 2.0 && lc.scaling() == 8.0, "scaling alpha/r = 2, rsLoRA alpha/sqrt(r) = 8");
    bool threw = false;
    try {
      lc.dropout = 1.0;
      lc.validate();
    } catch (const Error& e) {
      threw = std::string(e.what()).find("lora_dropout") != std::string::npos;
    }
    check(threw, "invalid dropout is rejected, naming lora_dropout");
    check(lora_target_preset("all linear").size() == 7 && parse_linear_slot("gate_proj") == LinearSlot::Gate &&
              parse_linear_slot("v") == LinearSlot::V,
          "target presets and module names");
  }

  const LlamaConfig c = small_config();
  Rng rng(9);
  std::vector<int32_t> tokens(2 * 24);
  for (auto& t : tokens) t = int32_t(rng.next_u64() % c.vocab_size);
  {  // PEFT init: A ~ U(±1/√in), B = 0, so outputs are bit-identical to the base model's.
    auto base = Model::from_config(c, 5, 0.05, 2);
    const std::vector<float> before = base->logits(tokens, 2, 24);
    LoraConfig lc;
    lc.targets = lora_target_preset("all-linear");
    lc.seed = 17;
    auto lora = attach_lora(*base, lc);
    const std::vector<float> after = base->logits(tokens, 2, 24);
    bool in_bounds = true, b_zero = true;
    for (const auto& m : lora->linears().modules()) {
      const double bound = 1.0 / std::sqrt(double(m.in));
      for (int64_t i = 0; i < lc.r * m.in; ++i) in_bounds = in_bounds && std::fabs(lora->linears().params()[m.a + size_t(i)]) <= bound;
      for (int64_t i = 0; i < m.out * lc.r; ++i) b_zero = b_zero && lora->linears().params()[m.b + size_t(i)] == 0.0f;
    }
    check(in_bounds && b_zero && std::memcmp(before.data(), after.data(), before.size() * 4) == 0,
          "PEFT init: A within ±1/sqrt(in), B zero, logits unchanged bit for bit");
    auto again = Model::from_config(c, 5, 0.05, 2);
    auto lora2 = attach_lora(*again, lc);
    check(std::memcmp(lora->linears().params(), lora2->linears().params(), lora->linears().num_params() * 4) == 0,
          "adapter init is reproducible from the seed");
  }
  {  // Dropout: active only in training forwards, masks regenerated identically for checkpointing.
    LoraConfig lc;
    lc.targets = lora_target_preset("all-linear");
    lc.dropout = 0.25;
    auto grads_with = [&](bool checkpointing) {
      auto m = Model::from_config(c, 5, 0.05, 2);
      auto lora = attach_lora(*m, lc);
      Rng r(1);
      for (const auto& mod : lora->linears().modules())
        for (int64_t i = 0; i < mod.out * lc.r; ++i) lora->linears().params()[mod.b + size_t(i)] = float(r.normal() * 0.1);
      m->set_checkpointing(checkpointing);
      m->zero_gradients();
      m->forward_backward(make_batch(tokens, 2, 24));
      return std::vector<float>(lora->linears().grads(), lora->linears().grads() + lora->linears().num_params());
    };
    const std::vector<float> stored = grads_with(false), ckpt = grads_with(true);
    check(std::memcmp(stored.data(), ckpt.data(), stored.size() * 4) == 0,
          "dropout masks regenerate under activation checkpointing: bit-identical adapter gradients");
    auto m = Model::from_config(c, 5, 0.05, 2);
    const std::vector<float> plain = m->logits(tokens, 2, 24);
    auto lora = attach_lora(*m, lc);
    for (const auto& mod : lora->linears().modules())
      for (int64_t i = 0; i < mod.out * lc.r; ++i) lora->linears().params()[mod.b + size_t(i)] = 0.1f;
    const double l_eval1 = m->loss(make_batch(tokens, 2, 24)), l_eval2 = m->loss(make_batch(tokens, 2, 24));
    m->zero_gradients();
    const double l_train1 = m->forward_backward(make_batch(tokens, 2, 24));
    m->zero_gradients();
    const double l_train2 = m->forward_backward(make_batch(tokens, 2, 24));
    check(l_eval1 == l_eval2 && l_train1 != l_eval1 && l_train1 != l_train2 && plain.size() > 0,
          "dropout: identity in evaluation, a fresh mask each training forward",
          fmt(l_eval1) + " eval, " + fmt(l_train1) + " / " + fmt(l_train2) + " train");
  }
  {  // QLoRA forward == fp32 model holding the dequantized weights (same adapter on top).
    auto q_model = Model::from_config(c, 6, 0.05, 2);
    auto ref_model = Model::from_config(c, 6, 0.05, 2);
    LoraConfig lc;
    lc.targets = {LinearSlot::Q, LinearSlot::V, LinearSlot::Down};
    lc.r = 4;
    lc.alpha = 8;
    LoraConfig qc = lc;
    qc.quantize_base_nf4 = true;
    auto q_lora = attach_lora(*q_model, qc);
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const LayerParamOffsets& o = ref_model->layout().layers[size_t(l)];
      const size_t off[kNumLinearSlots] = {o.q, o.k, o.v, o.o, o.gate, o.up, o.down};
      for (int s = 0; s < kNumLinearSlots; ++s)
        dequantize_nf4(*q_lora->linears().base_nf4(l, LinearSlot(s)), ref_model->parameters() + off[s]);
    }
    auto ref_lora = attach_lora(*ref_model, lc);
    Rng r(2);
    for (size_t i = 0; i < q_lora->linears().num_params(); ++i)
      q_lora->linears().params()[i] = ref_lora->linears().params()[i] = float(r.normal() * 0.05);
    const std::vector<float> lq = q_model->logits(tokens, 2, 24), lr = ref_model->logits(tokens, 2, 24);
    const double err = relative_error(lq.data(), lr.data(), lq.size());
    check(err <= 1e-5, "QLoRA (NF4 base) logits == fp32 model with the dequantized weights", "rel err " + fmt(err));
    GenerationOptions gen;
    gen.max_new_tokens = 8;
    check(q_model->generate({1, 2, 3}, gen) == ref_model->generate({1, 2, 3}, gen), "QLoRA generation (KV cache) matches");
  }
  {  // Memory: base Linear weights at ~0.52 byte/param once quantized; no base gradient buffers.
    LlamaConfig big = small_config();
    big.hidden_size = 256, big.intermediate_size = 688, big.num_layers = 4, big.head_dim = 64, big.vocab_size = 256;
    auto m = Model::from_config(big, 1, 0.02, 2);
    int64_t linear = 0;
    for (const ParamInfo& p : m->layout().params)
      if (ParameterLayout::is_decoder_linear_weight(p.name)) linear += p.numel;
    const int64_t before = memory_stats().live_bytes;
    LoraConfig lc;
    lc.targets = lora_target_preset("all-linear");
    lc.quantize_base_nf4 = true;
    auto lora = attach_lora(*m, lc);
    const int64_t after = memory_stats().live_bytes;
    const double nf4_per_param = double(lora->linears().nf4_storage_bytes()) / double(linear);
    const int64_t lora_bytes = int64_t(lora->linears().num_params()) * 8;  // params + grads
    const double live_per_linear_param = double(after - before + linear * 4 - lora_bytes) / double(linear);
    m->zero_gradients();
    m->forward_backward(make_batch(std::vector<int32_t>(64, 3), 2, 32));
    check(nf4_per_param < 0.517 && std::fabs(live_per_linear_param - nf4_per_param) < 0.01 &&
              m->transformer().num_grads() == 0 && m->gradients() == nullptr,
          "QLoRA memory: base Linear weights stored at ~0.516 B/param, no base gradients",
          fmt(nf4_per_param) + " B/param stored, " + fmt(live_per_linear_param) + " B/param by live-bytes delta, " +
              std::to_string(linear) + " linear params");
  }

  {  // Zeroth-order over the adapter: ZoTrainer's default view with LoRA attached is the adapter's
     // parameters (Model::trainable_spans()), so ZO-SGD moves A and B only.
    const LlamaConfig tc = tiny_config();
    std::vector<int32_t> seq_tokens(2 * 12);
    for (size_t i = 0; i < seq_tokens.size(); ++i) seq_tokens[i] = int32_t((i * 5 + 3) % size_t(tc.vocab_size));
    const TrainBatch b = make_batch(seq_tokens, 2, 12);
    for (bool qlora : {false, true}) {
      auto m = Model::from_config(tc, 11, 0.3, 2);
      LoraConfig lc;
      lc.targets = lora_target_preset("all-linear");
      lc.r = 2;
      lc.alpha = 4;
      lc.dropout = 0.1;  // off in ZO's inference-mode probes
      lc.quantize_base_nf4 = qlora;
      auto lora = attach_lora(*m, lc);
      const std::vector<float> base_before(m->parameters(), m->parameters() + m->num_parameters());
      std::vector<uint8_t> codes_before;
      if (qlora) {
        const Nf4Tensor* q = lora->linears().base_nf4(1, LinearSlot::Down);
        codes_before.assign(q->packed.data(), q->packed.data() + q->packed.size());
      }
      ZoOptions o;
      o.method = ZoMethod::Sgd;
      o.lr = 2e-2;
      o.eps = 1e-3;
      o.q = 4;
      o.seed = 5;
      ZoTrainer zo(*m, o);
      const bool adapter_view = zo.view().spans.size() == 1 && zo.view().spans[0].data == lora->linears().params() &&
                                zo.view().total() == int64_t(lora->linears().num_params());
      const double initial = m->loss(b);
      double last = initial;
      for (int s = 0; s < 150; ++s) last = zo.step({b}).loss;
      last = m->loss(b);
      bool base_same = std::memcmp(base_before.data(), m->parameters(), base_before.size() * 4) == 0;
      if (qlora) {
        const Nf4Tensor* q = lora->linears().base_nf4(1, LinearSlot::Down);
        base_same = base_same && std::memcmp(codes_before.data(), q->packed.data(), codes_before.size()) == 0;
      }
      check(adapter_view && last < initial - 0.05 && base_same && m->gradients() == nullptr,
            std::string("ZO-SGD over ") + (qlora ? "a QLoRA" : "a LoRA") +
                " adapter's parameters lowers the loss, base weights bit-identical",
            fmt(initial) + " -> " + fmt(last) + ", " + std::to_string(zo.view().total()) + " trainable values");
    }
  }

  const std::string dir = assets_dir() + "/models/stories260K-hf";
  if (!path_exists(dir + "/model.safetensors")) {
    tunesmith_test::skip("LoRA training on stories260K", "assets not found at " + dir);
    return tunesmith_test::finish("test_lora");
  }
  // A fixed story snippet (token ids from the stories260K tokenizer, BOS first).
  const std::vector<int32_t> story = {1,   403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421,
                                      395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411,
                                      322, 265, 282, 295, 433, 267};
  for (bool qlora : {false, true}) {
    for (bool train_embed : {false, true}) {
      if (qlora && train_embed) continue;
      auto model = Model::load(dir, 2);
      std::vector<float> base_before(model->parameters(), model->parameters() + model->num_parameters());
      LoraConfig lc;
      lc.targets = lora_target_preset("all-linear");
      lc.r = 4;
      lc.alpha = 8;
      lc.dropout = 0.05;
      lc.train_embeddings = train_embed;
      lc.quantize_base_nf4 = qlora;
      auto lora = attach_lora(*model, lc);
      std::vector<uint8_t> codes_before;
      if (qlora) {
        const Nf4Tensor* q = lora->linears().base_nf4(2, LinearSlot::Up);
        codes_before.assign(q->packed.data(), q->packed.data() + q->packed.size());
        base_before.assign(model->parameters(), model->parameters() + model->num_parameters());
      }
      std::vector<float> adapter_before(lora->linears().params(), lora->linears().params() + lora->linears().num_params());
      TrainOptions o;
      o.optimizer.lr = 1e-2;
      o.max_grad_norm = 1.0;
      Trainer trainer(*model, o);
      TrainBatch b = make_batch(story, 1, int64_t(story.size()));
      const double first = trainer.step({b}).loss;
      double last = first;
      for (int s = 0; s < 12; ++s) last = trainer.step({b}).loss;
      const ParameterLayout& layout = model->layout();
      bool frozen_same = true, embed_changed = false;
      for (const ParamInfo& p : layout.params) {
        const bool same = std::memcmp(base_before.data() + p.offset, model->parameters() + p.offset, size_t(p.numel) * 4) == 0;
        if (p.offset == layout.embed) embed_changed = !same;
        else frozen_same = frozen_same && same;
      }
      if (qlora) {
        const Nf4Tensor* q = lora->linears().base_nf4(2, LinearSlot::Up);
        frozen_same = frozen_same && std::memcmp(codes_before.data(), q->packed.data(), codes_before.size()) == 0;
      }
      const bool adapter_changed =
          std::memcmp(adapter_before.data(), lora->linears().params(), adapter_before.size() * 4) != 0;
      const std::string what = std::string(qlora ? "QLoRA" : "LoRA") + (train_embed ? " + embeddings" : "");
      check(last < first && adapter_changed && frozen_same && embed_changed == train_embed,
            what + " on stories260K: loss falls, only trainable weights change",
            fmt(first) + " -> " + fmt(last) + ", frozen base bit-identical: " + (frozen_same ? "yes" : "NO") +
                ", trainable values " + std::to_string([&] { int64_t n = 0; for (const auto& s : model->trainable_spans()) n += s.count; return n; }()));
    }
  }
  return tunesmith_test::finish("test_lora");
}
