// The JS Trainer class: one optimizer step at a time on a worker thread, for every training method
// the engine has — full fine-tuning (AdamW/SGD over the model's trainable parameters), LISA and the
// zeroth-order family — plus bit-exact checkpoints. JS drives the loop (data, metrics, cancel,
// when to checkpoint); C++ does the step.
//
//   new Trainer(model, {method: 'full' | 'lisa' | 'zo', optimizer, lr, schedule, warmupSteps,
//                       totalSteps, maxGradNorm, weightDecay, momentum, beta1, beta2, eps,
//                       lisaGamma, lisaPeriod, zoMethod, zoEps, zoQueries, zoOneSided, seed})
//   trainer.step([{tokens, lossMask?, batch, seq}, ...]) -> Promise<StepResult>
//   trainer.saveCheckpoint(path) / trainer.loadCheckpoint(path) -> Promise<void>
#include "trainer_binding.h"

#include <memory>
#include <string>
#include <vector>

#include "async_work.h"
#include "convert.h"
#include "model_wrap.h"
#include "core/error.h"
#include "train/checkpoint.h"
#include "train/lisa.h"
#include "train/trainer.h"
#include "train/zo.h"

namespace tunesmith_binding {

namespace {

// What a step reports, whatever the method; method-specific fields stay empty where they do not apply.
struct StepReport {
  tunesmith::StepResult base;
  bool has_lisa = false;
  std::vector<int64_t> active_layers;
  bool switched = false;
  int64_t active_parameters = 0;  // LISA: values trained in this interval (E, norm, H, active layers)
  bool has_zo = false;
  double projected_grad = 0.0;
};

// One interface over the engine's trainer classes, so the JS class needs no per-method branches.
class AnyTrainer {
 public:
  virtual ~AnyTrainer() = default;
  virtual StepReport step(const std::vector<tunesmith::TrainBatch>& batches) = 0;
  virtual void save(const std::string& path) const = 0;
  virtual void load(const std::string& path) = 0;
};

class FullTrainer final : public AnyTrainer {
 public:
  FullTrainer(tunesmith::Model& model, const tunesmith::TrainOptions& options) : trainer_(model, options) {}
  StepReport step(const std::vector<tunesmith::TrainBatch>& batches) override { return {trainer_.step(batches)}; }
  void save(const std::string& path) const override { tunesmith::save_checkpoint(path, trainer_); }
  void load(const std::string& path) override { tunesmith::load_checkpoint(path, trainer_); }

 private:
  tunesmith::Trainer trainer_;
};

class LisaTrainerAdapter final : public AnyTrainer {
 public:
  LisaTrainerAdapter(tunesmith::Model& model, const tunesmith::LisaOptions& lisa, const tunesmith::TrainOptions& options)
      : trainer_(model, lisa, options) {}
  StepReport step(const std::vector<tunesmith::TrainBatch>& batches) override {
    tunesmith::LisaStepResult r = trainer_.step(batches);
    StepReport report{r};
    report.has_lisa = true;
    report.active_layers = r.active_layers;
    report.switched = r.switched;
    report.active_parameters = trainer_.active_parameter_count();
    return report;
  }
  void save(const std::string& path) const override { tunesmith::save_checkpoint(path, trainer_); }
  void load(const std::string& path) override { tunesmith::load_checkpoint(path, trainer_); }

 private:
  tunesmith::LisaTrainer trainer_;
};

class ZoTrainerAdapter final : public AnyTrainer {
 public:
  ZoTrainerAdapter(tunesmith::Model& model, const tunesmith::ZoOptions& options) : trainer_(model, options) {}
  StepReport step(const std::vector<tunesmith::TrainBatch>& batches) override {
    tunesmith::ZoStepResult r = trainer_.step(batches);
    StepReport report{r};
    report.has_zo = true;
    report.projected_grad = r.projected_grad;
    return report;
  }
  void save(const std::string& path) const override { tunesmith::save_checkpoint(path, trainer_); }
  void load(const std::string& path) override { tunesmith::load_checkpoint(path, trainer_); }

 private:
  tunesmith::ZoTrainer trainer_;
};

tunesmith::ScheduleOptions read_schedule(const Napi::Object& o) {
  tunesmith::ScheduleOptions s;
  const std::string kind = string_or(o, "schedule", "constant");
  if (kind == "constant") s.kind = tunesmith::ScheduleOptions::Kind::Constant;
  else if (kind == "constant-warmup") s.kind = tunesmith::ScheduleOptions::Kind::ConstantWithWarmup;
  else if (kind == "cosine") s.kind = tunesmith::ScheduleOptions::Kind::Cosine;
  else throw Napi::Error::New(o.Env(), "schedule must be constant, constant-warmup or cosine, got \"" + kind + "\"");
  s.warmup_steps = static_cast<int64_t>(number_or(o, "warmupSteps", 0));
  s.total_steps = static_cast<int64_t>(number_or(o, "totalSteps", 0));
  return s;
}

tunesmith::TrainOptions read_train_options(const Napi::Object& o) {
  tunesmith::TrainOptions t;
  const std::string opt = string_or(o, "optimizer", "adamw");
  if (opt == "adamw") t.optimizer.kind = tunesmith::OptimizerOptions::Kind::AdamW;
  else if (opt == "sgd") t.optimizer.kind = tunesmith::OptimizerOptions::Kind::Sgd;
  else throw Napi::Error::New(o.Env(), "optimizer must be \"adamw\" or \"sgd\", got \"" + opt + "\"");
  t.optimizer.lr = number_or(o, "lr", 1e-3);
  t.optimizer.beta1 = number_or(o, "beta1", 0.9);
  t.optimizer.beta2 = number_or(o, "beta2", 0.999);
  t.optimizer.eps = number_or(o, "eps", 1e-8);
  t.optimizer.weight_decay = number_or(o, "weightDecay", 0);
  t.optimizer.momentum = number_or(o, "momentum", 0);
  t.schedule = read_schedule(o);
  t.max_grad_norm = number_or(o, "maxGradNorm", 0);
  return t;
}

tunesmith::ZoOptions read_zo_options(const Napi::Object& o) {
  tunesmith::ZoOptions z;
  z.method = tunesmith::parse_zo_method(string_or(o, "zoMethod", "zo-sgd"));
  z.eps = number_or(o, "zoEps", 1e-3);
  z.q = static_cast<int64_t>(number_or(o, "zoQueries", 1));
  z.one_sided = bool_or(o, "zoOneSided", false);
  z.lr = number_or(o, "lr", 1e-6);
  z.momentum = number_or(o, "momentum", 0.9);
  z.beta1 = number_or(o, "beta1", 0.9);
  z.beta2 = number_or(o, "beta2", 0.999);
  z.adam_eps = number_or(o, "eps", 1e-8);
  z.weight_decay = number_or(o, "weightDecay", 0);
  z.seed = static_cast<uint64_t>(number_or(o, "seed", 0));
  z.schedule = read_schedule(o);
  return z;
}

Napi::Object report_to_js(Napi::Env env, const StepReport& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", r.base.loss);
  o.Set("gradNorm", r.base.grad_norm);
  o.Set("lr", r.base.lr);
  o.Set("step", static_cast<double>(r.base.step));
  o.Set("memory", memory_to_js(env));
  if (r.has_lisa) {
    Napi::Array layers = Napi::Array::New(env, r.active_layers.size());
    for (size_t i = 0; i < r.active_layers.size(); ++i) layers.Set(static_cast<uint32_t>(i), static_cast<double>(r.active_layers[i]));
    o.Set("activeLayers", layers);
    o.Set("switched", r.switched);
    o.Set("activeParameters", static_cast<double>(r.active_parameters));
  }
  if (r.has_zo) o.Set("projectedGrad", r.projected_grad);
  return o;
}

}  // namespace

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Trainer",
                       {InstanceMethod("step", &TrainerWrap::Step), InstanceMethod("saveCheckpoint", &TrainerWrap::SaveCheckpoint),
                        InstanceMethod("loadCheckpoint", &TrainerWrap::LoadCheckpoint)});
  }

  explicit TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "Trainer(model, options) expected");
    model_ = Napi::ObjectWrap<ModelWrap>::Unwrap(info[0].As<Napi::Object>());
    tunesmith::Model& model = model_->loaded(env);
    model_ref_ = Napi::Persistent(info[0].As<Napi::Object>());  // keep the model alive while we train it
    Napi::Object o = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    const std::string method = string_or(o, "method", "full");
    try {
      if (method == "full") {
        trainer_ = std::make_shared<FullTrainer>(model, read_train_options(o));
      } else if (method == "lisa") {
        tunesmith::LisaOptions lisa;
        lisa.gamma = static_cast<int64_t>(number_or(o, "lisaGamma", 2));
        lisa.period_k = static_cast<int64_t>(number_or(o, "lisaPeriod", 20));
        lisa.seed = static_cast<uint64_t>(number_or(o, "seed", 0));
        trainer_ = std::make_shared<LisaTrainerAdapter>(model, lisa, read_train_options(o));
      } else if (method == "zo") {
        trainer_ = std::make_shared<ZoTrainerAdapter>(model, read_zo_options(o));
      } else {
        throw Napi::Error::New(env, "method must be full, lisa or zo, got \"" + method + "\"");
      }
    } catch (const tunesmith::Error& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

 private:
  // step([{tokens: Int32Array, lossMask?: Uint8Array, batch, seq}, ...]) -> Promise<StepResult>
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsArray()) throw Napi::TypeError::New(env, "step(microBatches: array) expected");
    Napi::Array arr = info[0].As<Napi::Array>();
    std::vector<tunesmith::TrainBatch> batches;
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Object b = arr.Get(i).As<Napi::Object>();
      tunesmith::TrainBatch tb;
      tb.tokens = to_tokens(b.Get("tokens"), "tokens");
      tb.batch = static_cast<int64_t>(number_or(b, "batch", 1));
      tb.seq = static_cast<int64_t>(number_or(b, "seq", static_cast<double>(tb.tokens.size())));
      if (tb.batch * tb.seq != static_cast<int64_t>(tb.tokens.size())) throw Napi::RangeError::New(env, "step: tokens must hold batch*seq ids");
      tb.loss_mask = to_mask(b.Get("lossMask"), tb.tokens.size(), "lossMask");
      batches.push_back(std::move(tb));
    }
    if (batches.empty()) throw Napi::RangeError::New(env, "step: no micro-batches");
    model_->claim(env);
    auto trainer = trainer_;
    auto report = std::make_shared<StepReport>();
    auto* guard = new BusyGuard(model_->busy);
    return PromiseWorker::run(
        env,
        [trainer, batches, report, guard]() {
          std::unique_ptr<BusyGuard> release(guard);
          *report = trainer->step(batches);
        },
        [report](Napi::Env env) { return report_to_js(env, *report); });
  }

  // Checkpoints are written atomically by the engine (temp file, fsync, rename).
  Napi::Value SaveCheckpoint(const Napi::CallbackInfo& info) { return checkpoint_io(info, true); }
  Napi::Value LoadCheckpoint(const Napi::CallbackInfo& info) { return checkpoint_io(info, false); }

  Napi::Value checkpoint_io(const Napi::CallbackInfo& info, bool save) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "checkpoint path must be a string");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    model_->claim(env);
    auto trainer = trainer_;
    auto* guard = new BusyGuard(model_->busy);
    return PromiseWorker::run(
        env,
        [trainer, path, save, guard]() {
          std::unique_ptr<BusyGuard> release(guard);
          if (save) trainer->save(path);
          else trainer->load(path);
        },
        [](Napi::Env env) { return env.Undefined(); });
  }

  ModelWrap* model_ = nullptr;
  Napi::ObjectReference model_ref_;
  std::shared_ptr<AnyTrainer> trainer_;
};

Napi::Function define_trainer_class(Napi::Env env) { return TrainerWrap::define(env); }

}  // namespace tunesmith_binding
