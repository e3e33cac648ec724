// Whole-model gradients against central finite differences in float64 on tiny random configs
// (MHA/GQA, tied/untied, qkv bias, llama3 rope scaling, sliding window), then fp32 properties:
// checkpointed == stored gradients bit for bit, gradient accumulation == one big batch.
#include <cstring>
#include <vector>

#include "check.h"
#include "core/rng.h"
#include "cpu/cpu_backend.h"
#include "model/model.h"
#include "model/transformer.h"
#include "train/trainer.h"

using namespace tunesmith;
using tunesmith_test::check;
using tunesmith_test::fmt;
using tunesmith_test::relative_error;

namespace {

LlamaConfig tiny_config(int64_t kv_heads, bool tied, bool qkv_bias, bool llama3_rope) {
  LlamaConfig c;
  c.model_type = qkv_bias ? "qwen2" : "llama";
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = kv_heads;
  c.head_dim = 4;
  c.vocab_size = 11;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = tied;
  c.qkv_bias = qkv_bias;
  if (llama3_rope) {
    c.rope_scaling.type = "llama3";
    c.rope_scaling.factor = 8.0;
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 4.0;
    c.rope_scaling.original_max_position_embeddings = 16;
  }
  return c;
}

void gradcheck_model(const std::string& name, const LlamaConfig& config) {
  CpuBackend<double> backend(2);
  Transformer<double> model(config, backend);
  Rng rng(42);
  for (size_t i = 0; i < model.num_params(); ++i) model.params()[i] = rng.normal() * 0.5;
  const int64_t batch = 2, seq = 5;
  std::vector<int32_t> tokens(batch * seq), targets(batch * seq);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t(rng.next_u64() % config.vocab_size);
  for (size_t i = 0; i < targets.size(); ++i) targets[i] = (i % 4 == 1) ? -1 : int32_t(rng.next_u64() % config.vocab_size);

  model.forward(tokens.data(), targets.data(), batch, seq, true);
  model.ensure_grads();
  model.zero_grads();
  model.backward(1.0);
  std::vector<double> analytic(model.grads(), model.grads() + model.num_params());

  double worst = 0.0;
  std::string worst_name;
  const double h = 1e-5;
  for (const ParamInfo& p : model.layout().params) {
    std::vector<double> numeric(size_t(p.numel));
    for (int64_t i = 0; i < p.numel; ++i) {
      double& w = model.params()[p.offset + size_t(i)];
      const double saved = w;
      w = saved + h;
      const double up = model.forward(tokens.data(), targets.data(), batch, seq, false);
      w = saved - h;
      const double down = model.forward(tokens.data(), targets.data(), batch, seq, false);
      w = saved;
      numeric[size_t(i)] = (up - down) / (2 * h);
    }
    const double err = relative_error(analytic.data() + p.offset, numeric.data(), numeric.size());
    if (err > worst) {
      worst = err;
      worst_name = p.name;
    }
  }
  check(worst < 1e-6, "model gradcheck " + name + " (" + std::to_string(model.num_params()) + " params)",
        "worst rel err " + fmt(worst) + " at " + worst_name);
}

TrainBatch random_batch(Rng& rng, int64_t batch, int64_t seq, int64_t vocab) {
  TrainBatch b;
  b.batch = batch;
  b.seq = seq;
  for (int64_t i = 0; i < batch * seq; ++i) {
    b.tokens.push_back(int32_t(rng.next_u64() % vocab));
    b.loss_mask.push_back(uint8_t((i % seq) >= seq / 3));  // "prompt" third unmasked
  }
  return b;
}

}  // namespace

int main() {
  gradcheck_model("MHA untied", tiny_config(4, false, false, false));
  gradcheck_model("GQA tied", tiny_config(2, true, false, false));
  gradcheck_model("GQA untied qkv-bias (qwen2)", tiny_config(1, false, true, false));
  gradcheck_model("GQA tied llama3-rope", tiny_config(2, true, false, true));
  {
    LlamaConfig c = tiny_config(2, false, false, false);
    c.o_bias = c.qkv_bias = true;  // llama attention_bias
    c.sliding_window = 3;
    gradcheck_model("attention_bias + sliding window 3", c);
  }

  // fp32: checkpointed vs stored gradients, bit-identical.
  LlamaConfig c = tiny_config(2, false, true, false);
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_layers = 3;
  c.head_dim = 8;
  c.vocab_size = 50;
  auto model = Model::from_config(c, 7, 0.1, 2);
  Rng rng(9);
  TrainBatch batch = random_batch(rng, 2, 16, c.vocab_size);
  model->set_checkpointing(false);
  model->zero_gradients();
  const double loss_stored = model->forward_backward(batch);
  std::vector<float> g_stored(model->gradients(), model->gradients() + model->num_parameters());
  model->set_checkpointing(true);
  model->zero_gradients();
  const double loss_ckpt = model->forward_backward(batch);
  const bool same = std::memcmp(g_stored.data(), model->gradients(), g_stored.size() * sizeof(float)) == 0;
  check(same && loss_stored == loss_ckpt, "activation checkpointing gives bit-identical gradients and loss");

  // Gradient accumulation: two micro-batches with equal target counts, scale 1/2 each, equal the
  // gradient of the concatenated batch.
  model->set_checkpointing(false);
  TrainBatch a = random_batch(rng, 1, 16, c.vocab_size), b = random_batch(rng, 1, 16, c.vocab_size);
  TrainBatch both = a;
  both.batch = 2;
  both.tokens.insert(both.tokens.end(), b.tokens.begin(), b.tokens.end());
  both.loss_mask.insert(both.loss_mask.end(), b.loss_mask.begin(), b.loss_mask.end());
  model->zero_gradients();
  model->forward_backward(both);
  std::vector<float> g_full(model->gradients(), model->gradients() + model->num_parameters());
  model->zero_gradients();
  model->forward_backward(a, 0.5);
  model->forward_backward(b, 0.5);
  const double acc_err = relative_error(model->gradients(), g_full.data(), g_full.size());
  check(acc_err < 1e-5, "gradient accumulation over 2 micro-batches == full batch", "rel err " + fmt(acc_err));

  // Loss mask: masking a token removes exactly its term (loss of fully masked batch is 0, no grad).
  TrainBatch none = a;
  std::fill(none.loss_mask.begin(), none.loss_mask.end(), 0);
  model->zero_gradients();
  const double zero_loss = model->forward_backward(none);
  check(zero_loss == 0.0 && model->backend().sum_squares(model->gradients(), int64_t(model->num_parameters())) == 0.0,
        "fully masked batch: loss 0 and zero gradient");

  // fp32 vs fp64 forward on the same weights (checks the float kernels end to end).
  {
    CpuBackend<double> be64(2);
    Transformer<double> m64(c, be64);
    for (size_t i = 0; i < model->num_parameters(); ++i) m64.params()[i] = model->parameters()[i];
    const std::vector<int32_t> targets = make_targets(batch);
    m64.forward(batch.tokens.data(), targets.data(), batch.batch, batch.seq, false);
    const std::vector<float> l32 = model->logits(batch.tokens, batch.batch, batch.seq);
    const double err = relative_error(l32.data(), m64.logits(), l32.size());
    check(err < 1e-5, "fp32 logits vs fp64 logits", "rel err " + fmt(err));
  }

  // Thread-count independence of the fp32 gradients (static partitioning).
  {
    auto m1 = Model::from_config(c, 7, 0.1, 1);
    m1->zero_gradients();
    m1->forward_backward(batch);
    auto m3 = Model::from_config(c, 7, 0.1, 3);
    m3->zero_gradients();
    m3->forward_backward(batch);
    const double err = relative_error(m1->gradients(), m3->gradients(), m1->num_parameters());
    check(err < 1e-6, "gradients with 1 thread vs 3 threads", "rel err " + fmt(err));
  }
  return tunesmith_test::finish("test_model_grad");
}
