// The engine against reference fixtures (test/fixtures/engine/<case>/, made by
// tools/fixtures/make_engine_fixtures.py with transformers or its float64 numpy reference):
// logits, masked loss and every parameter gradient to fp32 relative error <= 1e-5 per tensor,
// and the 20-step AdamW + cosine-warmup + clipping loss sequence to <= 1e-4.
#include <algorithm>
#include <cmath>
#include <dirent.h>
#include <string>
#include <vector>

#include "assets.h"
#include "check.h"
#include "model/json.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "train/trainer.h"

using namespace tunesmith;
using tunesmith_test::check;
using tunesmith_test::fmt;
using tunesmith_test::relative_error;

namespace {

std::vector<std::string> list_cases(const std::string& root) {
  std::vector<std::string> out;
  if (DIR* d = opendir(root.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != ".." && path_exists(root + "/" + name + "/expected.json")) out.push_back(name);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void run_case(const std::string& dir, const std::string& name) {
  const JsonValue meta = parse_json(read_file(dir + "/expected.json"), dir + "/expected.json");
  const std::string reference = meta.find("reference")->as_string();
  const std::string model_ref = meta.find("model_dir")->as_string();
  std::string model_dir = dir;
  if (model_ref.rfind("assets:", 0) == 0) {
    model_dir = assets_dir() + "/" + model_ref.substr(7);
    if (!path_exists(model_dir + "/model.safetensors")) {
      tunesmith_test::skip(name, "assets not found at " + model_dir);
      return;
    }
  }
  const std::string tag = name + " [" + reference + "]";
  auto model = Model::load(model_dir, 2);
  const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");

  TrainBatch batch;
  batch.batch = meta.find("batch")->as_int();
  batch.seq = meta.find("seq")->as_int();
  for (const JsonValue& v : meta.find("tokens")->as_array()) batch.tokens.push_back(int32_t(v.as_int()));
  for (const JsonValue& v : meta.find("loss_mask")->as_array()) batch.loss_mask.push_back(uint8_t(v.as_int()));

  const std::vector<float> logits = model->logits(batch.tokens, batch.batch, batch.seq);
  std::vector<float> want(logits.size());
  expected->read_f32("logits", {batch.batch * batch.seq, model->config().vocab_size}, want.data());
  const double logit_err = relative_error(logits.data(), want.data(), want.size());
  check(logit_err <= 1e-5, tag + " logits", "rel err " + fmt(logit_err));

  model->zero_gradients();
  const double loss = model->forward_backward(batch);
  const double want_loss = meta.find("loss")->as_number();
  const double loss_err = std::fabs(loss - want_loss) / std::fabs(want_loss);
  check(loss_err <= 1e-5, tag + " loss", fmt(loss) + " vs " + fmt(want_loss) + ", rel err " + fmt(loss_err));

  double worst = 0.0;
  std::string worst_name;
  for (const ParamInfo& p : model->layout().params) {
    std::vector<float> g(size_t(p.numel));
    expected->read_f32("grad." + p.name, p.shape, g.data());
    const double err = relative_error(model->gradients() + p.offset, g.data(), g.size());
    if (err > worst) worst = err, worst_name = p.name;
  }
  check(worst <= 1e-5, tag + " gradients of all " + std::to_string(model->layout().params.size()) + " tensors",
        "max rel err " + fmt(worst) + " (" + worst_name + ")");

  const JsonValue& train = *meta.find("train");
  TrainOptions options;
  options.optimizer.kind = OptimizerOptions::Kind::AdamW;
  options.optimizer.lr = train.find("lr")->as_number();
  options.optimizer.beta1 = train.find("betas")->as_array()[0].as_number();
  options.optimizer.beta2 = train.find("betas")->as_array()[1].as_number();
  options.optimizer.eps = train.find("eps")->as_number();
  options.optimizer.weight_decay = train.find("weight_decay")->as_number();
  options.schedule.kind = ScheduleOptions::Kind::Cosine;
  options.schedule.warmup_steps = train.find("warmup_steps")->as_int();
  options.schedule.total_steps = train.find("steps")->as_int();
  options.max_grad_norm = train.find("max_grad_norm")->as_number();
  Trainer trainer(*model, options);
  double worst_step = 0.0;
  int worst_at = 0;
  const auto& losses = meta.find("train_losses")->as_array();
  for (size_t s = 0; s < losses.size(); ++s) {
    const double got = trainer.step({batch}).loss;
    const double ref = losses[s].as_number();
    const double err = std::fabs(got - ref) / std::fabs(ref);
    if (err > worst_step) worst_step = err, worst_at = int(s);
  }
  check(worst_step <= 1e-4, tag + " " + std::to_string(losses.size()) + "-step AdamW loss sequence",
        "max rel err " + fmt(worst_step) + " at step " + std::to_string(worst_at));
}

}  // namespace

int main() {
  const std::string root = std::string(TUNESMITH_REPO_ROOT) + "/test/fixtures/engine";
  const auto cases = list_cases(root);
  check(!cases.empty(), "fixtures present in test/fixtures/engine");
  for (const auto& name : cases) run_case(root + "/" + name, name);
  return tunesmith_test::finish("test_fixtures");
}
