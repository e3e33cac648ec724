// Checkpoint/resume: train N steps saving every k; fresh Model + trainer objects (built from a
// different random init, so only the checkpoint can make them agree) load the checkpoint at step
// j and continue; their loss sequence and final weights must equal the uninterrupted run's bit for
// bit — for full AdamW, SGD with momentum, LISA, ZO-SGD, ZO-SGD-MMT and ZO-Adam, and for LoRA
// (AdamW with dropout and trained embeddings, QLoRA with SGD momentum, ZO-Adam over the adapter),
// where the fresh run attaches a scrambled adapter with another dropout count to the same base.
// Plus the header, mismatch errors that name the field, and corrupted files.
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "assets.h"
#include "check.h"
#include "core/error.h"
#include "model/model.h"
#include "core/rng.h"
#include "train/checkpoint.h"
#include "train/lora.h"

using namespace tunesmith;
using tunesmith_test::check;

namespace {

LlamaConfig small_config() {
  LlamaConfig c;
  c.hidden_size = 16, c.intermediate_size = 24, c.num_layers = 4, c.num_heads = 4, c.num_kv_heads = 2;
  c.head_dim = 4, c.vocab_size = 32, c.rms_norm_eps = 1e-5;
  return c;
}

// The data order is the caller's (the JS side in the app): here a fixed batch per step index.
TrainBatch batch_for_step(int64_t step) {
  TrainBatch b;
  b.batch = 2, b.seq = 8;
  for (int i = 0; i < 16; ++i) {
    b.tokens.push_back(int32_t((i * 7 + step * 3 + 1) % 32));
    b.loss_mask.push_back(uint8_t(i % 8 >= 1));
  }
  return b;
}

std::string tmp_path(const std::string& name) { return "/tmp/tunesmith_test_ckpt_" + name; }

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

template <typename TrainerT, typename Make>
void check_resume(const std::string& name, const Make& make, int64_t total, int64_t every, std::vector<int64_t> resume_at) {
  // Uninterrupted run, checkpoints every `every` steps.
  auto model = Model::from_config(small_config(), 1, 0.1, 2);
  auto trainer = make(*model);
  std::vector<double> losses;
  for (int64_t s = 0; s < total; ++s) {
    losses.push_back(trainer->step({batch_for_step(s)}).loss);
    if ((s + 1) % every == 0) save_checkpoint(tmp_path(name + "_" + std::to_string(s + 1)), *trainer);
  }
  const std::vector<float> final_params(model->parameters(), model->parameters() + model->num_parameters());
  for (int64_t j : resume_at) {
    auto fresh_model = Model::from_config(small_config(), 99, 0.1, 1);  // other init, other thread count
    auto fresh = make(*fresh_model);
    load_checkpoint(tmp_path(name + "_" + std::to_string(j)), *fresh);
    std::vector<double> resumed(losses.begin(), losses.begin() + j);
    for (int64_t s = j; s < total; ++s) resumed.push_back(fresh->step({batch_for_step(s)}).loss);
    const bool params_equal =
        std::memcmp(final_params.data(), fresh_model->parameters(), final_params.size() * sizeof(float)) == 0;
    char detail[160];
    std::snprintf(detail, sizeof detail, "losses %.9g .. %.9g, %lld steps after resume", losses[size_t(j)], losses.back(),
                  (long long)(total - j));
    check(same_bits(losses, resumed) && params_equal && fresh->steps_done() == total,
          name + ": resume at step " + std::to_string(j) + " reproduces losses and weights bit for bit", detail);
  }
}

// LoRA: the checkpoint holds the adapter (and trained base tensors), not the frozen base, so the
// fresh run loads the same base model; its adapter is scrambled and its dropout counter moved, so
// only the checkpoint can make the runs agree. Compares losses, every base parameter, the adapter
// and the dropout counter bit for bit.
template <typename TrainerT, typename Make>
void check_resume_lora(const std::string& name, const LoraConfig& lc, const Make& make, int64_t total, int64_t every,
                       std::vector<int64_t> resume_at) {
  auto model = Model::from_config(small_config(), 1, 0.1, 2);
  auto lora = attach_lora(*model, lc);
  auto trainer = make(*model);
  std::vector<double> losses;
  for (int64_t s = 0; s < total; ++s) {
    losses.push_back(trainer->step({batch_for_step(s)}).loss);
    if ((s + 1) % every == 0) save_checkpoint(tmp_path(name + "_" + std::to_string(s + 1)), *trainer);
  }
  const std::vector<float> final_params(model->parameters(), model->parameters() + model->num_parameters());
  const std::vector<float> final_adapter(lora->linears().params(), lora->linears().params() + lora->linears().num_params());
  for (int64_t j : resume_at) {
    auto fresh_model = Model::from_config(small_config(), 1, 0.1, 1);  // same base, other thread count
    auto fresh_lora = attach_lora(*fresh_model, lc);
    Rng rng(uint64_t(77 + j));
    for (size_t i = 0; i < fresh_lora->linears().num_params(); ++i) fresh_lora->linears().params()[i] = float(rng.normal());
    if (lc.train_embeddings)
      for (int64_t i = 0; i < small_config().vocab_size * small_config().hidden_size; ++i)
        fresh_model->parameters()[fresh_model->layout().embed + size_t(i)] = float(rng.normal());
    fresh_lora->linears().set_training_forwards(999);
    auto fresh = make(*fresh_model);
    load_checkpoint(tmp_path(name + "_" + std::to_string(j)), *fresh);
    std::vector<double> resumed(losses.begin(), losses.begin() + j);
    for (int64_t s = j; s < total; ++s) resumed.push_back(fresh->step({batch_for_step(s)}).loss);
    const bool params_equal =
        std::memcmp(final_params.data(), fresh_model->parameters(), final_params.size() * sizeof(float)) == 0 &&
        std::memcmp(final_adapter.data(), fresh_lora->linears().params(), final_adapter.size() * sizeof(float)) == 0;
    const bool counter_equal = fresh_lora->linears().training_forwards() == lora->linears().training_forwards();
    char detail[200];
    std::snprintf(detail, sizeof detail, "losses %.9g .. %.9g, %lld steps after resume, %llu training forwards",
                  losses[size_t(j)], losses.back(), (long long)(total - j),
                  (unsigned long long)lora->linears().training_forwards());
    check(same_bits(losses, resumed) && params_equal && counter_equal && fresh->steps_done() == total,
          name + ": resume at step " + std::to_string(j) + " reproduces losses, base, adapter and dropout counter bit for bit",
          detail);
  }
}

template <typename Fn>
std::string error_of(const Fn& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

int main() {
  check_resume<Trainer>("full-adamw", [](Model& m) {
    TrainOptions o;
    o.optimizer.lr = 3e-3, o.optimizer.weight_decay = 0.01, o.max_grad_norm = 1.0;
    o.schedule.kind = ScheduleOptions::Kind::Cosine, o.schedule.warmup_steps = 2, o.schedule.total_steps = 12;
    return std::make_unique<Trainer>(m, o);
  }, 12, 4, {4, 8});
  check_resume<Trainer>("full-sgd-momentum", [](Model& m) {
    TrainOptions o;
    o.optimizer.kind = OptimizerOptions::Kind::Sgd, o.optimizer.lr = 0.05, o.optimizer.momentum = 0.9;
    return std::make_unique<Trainer>(m, o);
  }, 10, 5, {5});
  check_resume<LisaTrainer>("lisa", [](Model& m) {
    LisaOptions l;
    l.gamma = 2, l.period_k = 3, l.seed = 4;
    TrainOptions o;
    o.optimizer.lr = 3e-3, o.max_grad_norm = 1.0;
    return std::make_unique<LisaTrainer>(m, l, o);
  }, 12, 2, {4, 6, 8});
  for (ZoMethod method : {ZoMethod::Sgd, ZoMethod::SgdMomentum, ZoMethod::Adam, ZoMethod::SgdConservative, ZoMethod::ForwardGrad}) {
    check_resume<ZoTrainer>(zo_method_name(method), [method](Model& m) {
      ZoOptions o;
      o.method = method, o.lr = 1e-3, o.eps = 1e-3, o.seed = 12345678901234567890ull;
      o.q = method == ZoMethod::SgdConservative ? 1 : 2;
      if (method == ZoMethod::ForwardGrad) o.lr = 1e-2;
      return std::make_unique<ZoTrainer>(m, o);
    }, 12, 4, {4, 8});
  }

  {
    LoraConfig lc;
    lc.targets = lora_target_preset("all-linear");
    lc.r = 4, lc.alpha = 8, lc.dropout = 0.2, lc.train_embeddings = true, lc.seed = 3;
    check_resume_lora<Trainer>("lora-adamw-dropout-embed", lc, [](Model& m) {
      TrainOptions o;
      o.optimizer.lr = 1e-2, o.optimizer.weight_decay = 0.01, o.max_grad_norm = 1.0;
      o.schedule.kind = ScheduleOptions::Kind::Cosine, o.schedule.warmup_steps = 2, o.schedule.total_steps = 12;
      return std::make_unique<Trainer>(m, o);
    }, 12, 4, {4, 8});
    LoraConfig qc;
    qc.targets = {LinearSlot::Q, LinearSlot::V, LinearSlot::Down};
    qc.r = 2, qc.alpha = 4, qc.dropout = 0.1, qc.quantize_base_nf4 = true, qc.seed = 8;
    check_resume_lora<Trainer>("qlora-sgd-momentum", qc, [](Model& m) {
      TrainOptions o;
      o.optimizer.kind = OptimizerOptions::Kind::Sgd, o.optimizer.lr = 0.05, o.optimizer.momentum = 0.9;
      return std::make_unique<Trainer>(m, o);
    }, 10, 5, {5});
    check_resume_lora<ZoTrainer>("zo-adam-over-lora", lc, [](Model& m) {
      ZoOptions o;
      o.method = ZoMethod::Adam, o.lr = 1e-3, o.eps = 1e-3, o.q = 2, o.seed = 42;
      return std::make_unique<ZoTrainer>(m, o);
    }, 12, 4, {4, 8});

    // Header and mismatches.
    auto model = Model::from_config(small_config(), 1, 0.1, 2);
    attach_lora(*model, lc);
    TrainOptions o;
    Trainer trainer(*model, o);
    trainer.step({batch_for_step(0)});
    const std::string path = tmp_path("lora_header");
    save_checkpoint(path, trainer);
    const CheckpointInfo info = read_checkpoint_info(path);
    check(info.trainer == "lora" && info.step == 1 && info.header_json.find("\"training_forwards\":\"1\"") != std::string::npos &&
              info.header_json.find("\"target_modules\":[\"q_proj\",\"k_proj\"") != std::string::npos,
          "LoRA checkpoint header: trainer lora, step, LoRA config, dropout counter", info.header_json.substr(0, 160));
    LoraConfig other_r = lc;
    other_r.r = 8;
    auto m2 = Model::from_config(small_config(), 1, 0.1, 1);
    attach_lora(*m2, other_r);
    Trainer t2(*m2, o);
    std::string err = error_of([&] { load_checkpoint(path, t2); });
    check(err.find("lora.r is 4") != std::string::npos && t2.steps_done() == 0, "a LoRA config mismatch names the field", err);
    auto m3 = Model::from_config(small_config(), 2, 0.1, 1);  // another base model
    attach_lora(*m3, lc);
    Trainer t3(*m3, o);
    err = error_of([&] { load_checkpoint(path, t3); });
    check(err.find("lora.base_fingerprint") != std::string::npos && t3.steps_done() == 0,
          "resuming a LoRA run on another base model is an error naming the fingerprint", err);
    auto m4 = Model::from_config(small_config(), 1, 0.1, 1);
    Trainer t4(*m4, o);
    err = error_of([&] { load_checkpoint(path, t4); });
    check(err.find("trainer") != std::string::npos, "a LoRA checkpoint does not load into a full trainer", err);
  }

  {  // Header, mismatches, corruption.
    auto model = Model::from_config(small_config(), 1, 0.1, 2);
    LisaOptions l;
    l.gamma = 1, l.period_k = 2, l.seed = 4;
    TrainOptions o;
    LisaTrainer lisa(*model, l, o);
    lisa.step({batch_for_step(0)});
    const std::string path = tmp_path("lisa_header");
    save_checkpoint(path, lisa);
    const CheckpointInfo info = read_checkpoint_info(path);
    check(info.format_version == 1 && info.trainer == "lisa" && info.step == 1 &&
              info.header_json.find("\"period_k\":2") != std::string::npos &&
              info.header_json.find("\"hidden_size\":16") != std::string::npos && !path_exists(path + ".tmp"),
          "checkpoint header: format version, trainer, step, model shape and config; no temp file left");

    Trainer full(*model, o);
    std::string err = error_of([&] { load_checkpoint(path, full); });
    check(err.find("trainer") != std::string::npos && err.find(path) != std::string::npos,
          "loading a LISA checkpoint into a full trainer is an error naming the file and field", err);
    LlamaConfig other = small_config();
    other.hidden_size = 32;
    other.head_dim = 8;
    auto wrong = Model::from_config(other, 1, 0.1, 1);
    LisaTrainer wrong_trainer(*wrong, l, o);
    err = error_of([&] { load_checkpoint(path, wrong_trainer); });
    check(err.find("model.hidden_size") != std::string::npos, "a model mismatch names the field", err);
    LisaOptions other_gamma = l;
    other_gamma.gamma = 2;
    auto m3 = Model::from_config(small_config(), 1, 0.1, 1);
    LisaTrainer g2(*m3, other_gamma, o);
    err = error_of([&] { load_checkpoint(path, g2); });
    check(err.find("config.gamma") != std::string::npos, "an options mismatch names the field", err);

    const std::string data = read_file(path);
    const std::string cut = tmp_path("truncated");
    {
      FILE* f = std::fopen(cut.c_str(), "wb");
      std::fwrite(data.data(), 1, data.size() - 100, f);
      std::fclose(f);
    }
    auto m4 = Model::from_config(small_config(), 1, 0.1, 1);
    LisaTrainer t4(*m4, l, o);
    err = error_of([&] { load_checkpoint(cut, t4); });
    check(err.find("truncated") != std::string::npos && t4.steps_done() == 0,
          "a truncated checkpoint is a clear error and loads nothing", err);
    const std::string bad = tmp_path("bad_magic");
    {
      FILE* f = std::fopen(bad.c_str(), "wb");
      std::fwrite("not a checkpoint at all", 1, 23, f);
      std::fclose(f);
    }
    err = error_of([&] { load_checkpoint(bad, t4); });
    check(err.find("not a Tunesmith checkpoint") != std::string::npos, "a foreign file is rejected", err);
  }
  return tunesmith_test::finish("test_checkpoint");
}
