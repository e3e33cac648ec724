// Checkpoint/resume: train N steps saving every k; fresh Model + trainer objects (built from a
// different random init, so only the checkpoint can make them agree) load the checkpoint at step
// j and continue; their loss sequence and final weights must equal the uninterrupted run's bit for
// bit — for full AdamW, SGD with momentum, LISA, ZO-SGD, ZO-SGD-MMT and ZO-Adam. Plus the header,
// mismatch errors that name the field, and corrupted files.
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "assets.h"
#include "check.h"
#include "core/error.h"
#include "model/model.h"
#include "train/checkpoint.h"

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
