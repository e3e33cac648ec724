// Node-API wrapper of tunesmith::Model and tunesmith::Trainer (model/model.h, train/trainer.h).
// Every call that touches weights runs on a worker thread and returns a promise; a model runs one
// such call at a time (a second one is refused with a clear error rather than racing).
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "async_work.h"
#include "model_binding.h"
#include "core/error.h"
#include "core/memory.h"
#include "model/model.h"
#include "train/trainer.h"

namespace tunesmith_binding {

namespace {

std::vector<int32_t> to_tokens(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(v.Env(), std::string(what) + " must be an Int32Array of token ids");
  }
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

std::vector<uint8_t> to_mask(const Napi::Value& v, size_t expected, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return {};
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a Uint8Array");
  }
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  if (a.ElementLength() != expected) {
    throw Napi::RangeError::New(v.Env(), std::string(what) + " has " + std::to_string(a.ElementLength()) + " entries, expected " + std::to_string(expected));
  }
  return std::vector<uint8_t>(a.Data(), a.Data() + a.ElementLength());
}

double number_or(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

std::string string_or(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::Object config_to_js(Napi::Env env, const tunesmith::LlamaConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("modelType", c.model_type);
  o.Set("hiddenSize", static_cast<double>(c.hidden_size));
  o.Set("intermediateSize", static_cast<double>(c.intermediate_size));
  o.Set("numLayers", static_cast<double>(c.num_layers));
  o.Set("numHeads", static_cast<double>(c.num_heads));
  o.Set("numKvHeads", static_cast<double>(c.num_kv_heads));
  o.Set("headDim", static_cast<double>(c.head_dim));
  o.Set("vocabSize", static_cast<double>(c.vocab_size));
  o.Set("maxPositionEmbeddings", static_cast<double>(c.max_position_embeddings));
  o.Set("ropeTheta", c.rope_theta);
  o.Set("rmsNormEps", c.rms_norm_eps);
  o.Set("tieWordEmbeddings", c.tie_word_embeddings);
  o.Set("bosTokenId", static_cast<double>(c.bos_token_id));
  Napi::Array eos = Napi::Array::New(env, c.eos_token_ids.size());
  for (size_t i = 0; i < c.eos_token_ids.size(); ++i) eos.Set(static_cast<uint32_t>(i), static_cast<double>(c.eos_token_ids[i]));
  o.Set("eosTokenIds", eos);
  return o;
}

Napi::Object memory_to_js(Napi::Env env) {
  const tunesmith::MemoryStats m = tunesmith::memory_stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("liveBytes", static_cast<double>(m.live_bytes));
  o.Set("peakBytes", static_cast<double>(m.peak_bytes));
  return o;
}

// Marks a model busy for the duration of one async call.
class BusyGuard {
 public:
  explicit BusyGuard(std::shared_ptr<std::atomic<bool>> flag) : flag_(std::move(flag)) {}
  ~BusyGuard() { flag_->store(false); }
 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Model",
                       {InstanceMethod("config", &ModelWrap::Config), InstanceMethod("numParameters", &ModelWrap::NumParameters),
                        InstanceMethod("score", &ModelWrap::Score), InstanceMethod("generate", &ModelWrap::Generate),
                        InstanceMethod("setCheckpointing", &ModelWrap::SetCheckpointing),
                        InstanceMethod("save", &ModelWrap::Save)});
  }

  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {}

  std::shared_ptr<tunesmith::Model> model;
  std::shared_ptr<std::atomic<bool>> busy = std::make_shared<std::atomic<bool>>(false);

  // Claims the model for one call or throws "busy".
  void claim(Napi::Env env) {
    if (!model) throw Napi::Error::New(env, "the model is not loaded");
    bool expected = false;
    if (!busy->compare_exchange_strong(expected, true)) throw Napi::Error::New(env, "the model is busy with another call");
  }

  // The model itself, for quick synchronous calls; a Model made with `new` from JS has none.
  tunesmith::Model& loaded(Napi::Env env) {
    if (!model) throw Napi::Error::New(env, "the model is not loaded: use loadModel(dir)");
    return *model;
  }

 private:
  Napi::Value Config(const Napi::CallbackInfo& info) { return config_to_js(info.Env(), loaded(info.Env()).config()); }
  Napi::Value NumParameters(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(loaded(info.Env()).num_parameters()));
  }

  Napi::Value SetCheckpointing(const Napi::CallbackInfo& info) {
    if (busy->load()) throw Napi::Error::New(info.Env(), "the model is busy with another call");
    loaded(info.Env()).set_checkpointing(info[0].ToBoolean());
    return info.Env().Undefined();
  }

  // score(tokens: Int32Array, batch, seq) -> Promise<Float32Array [batch*(seq-1)]>
  Napi::Value Score(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto tokens = to_tokens(info[0], "tokens");
    const int64_t batch = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 1;
    const int64_t seq = info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : static_cast<int64_t>(tokens.size());
    if (batch < 1 || seq < 2 || static_cast<int64_t>(tokens.size()) != batch * seq) {
      throw Napi::RangeError::New(env, "score: tokens must hold batch*seq ids with seq >= 2");
    }
    claim(env);
    auto m = model;
    auto out = std::make_shared<std::vector<float>>();
    BusyGuard* guard = new BusyGuard(busy);
    return PromiseWorker::run(
        env,
        [m, tokens, batch, seq, out, guard]() {
          std::unique_ptr<BusyGuard> release(guard);
          *out = m->score(tokens, batch, seq);
        },
        [out](Napi::Env env) {
          Napi::Float32Array a = Napi::Float32Array::New(env, out->size());
          std::copy(out->begin(), out->end(), a.Data());
          return a;
        });
  }

  // generate(prompt: Int32Array, {maxNewTokens, temperature, topK, topP, seed, stopIds}, onToken)
  //   -> { promise: Promise<Int32Array>, cancel() }
  Napi::Value Generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto prompt = to_tokens(info[0], "prompt");
    if (prompt.empty()) throw Napi::RangeError::New(env, "generate: the prompt has no tokens");
    Napi::Object o = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    if (!info[2].IsFunction()) throw Napi::TypeError::New(env, "generate: onToken must be a function");
    tunesmith::GenerationOptions options;
    options.max_new_tokens = static_cast<int64_t>(number_or(o, "maxNewTokens", 64));
    options.sampling.temperature = number_or(o, "temperature", 0);
    options.sampling.top_k = static_cast<int64_t>(number_or(o, "topK", 0));
    options.sampling.top_p = number_or(o, "topP", 1);
    options.seed = static_cast<uint64_t>(number_or(o, "seed", 0));
    Napi::Value stops = o.Get("stopIds");
    if (stops.IsArray()) {
      Napi::Array a = stops.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) options.stop_ids.push_back(a.Get(i).As<Napi::Number>().Int32Value());
    }
    claim(env);
    auto m = model;
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    auto out = std::make_shared<std::vector<int32_t>>();
    BusyGuard* guard = new BusyGuard(busy);
    Napi::Promise promise = ProgressPromiseWorker<int32_t>::run(
        env, info[2].As<Napi::Function>(),
        [m, prompt, options, cancel, out, guard](const auto& send) {
          std::unique_ptr<BusyGuard> release(guard);
          *out = m->generate(prompt, options, [&](int32_t token) {
            send(token);
            return !cancel->load();
          });
        },
        [](Napi::Env env, const int32_t& token) { return Napi::Number::New(env, token); },
        [out](Napi::Env env) {
          Napi::Int32Array a = Napi::Int32Array::New(env, out->size());
          std::copy(out->begin(), out->end(), a.Data());
          return a;
        });
    Napi::Object handle = Napi::Object::New(env);
    handle.Set("promise", promise);
    handle.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo&) { cancel->store(true); }));
    return handle;
  }

  // save(path) -> Promise<void>: HF safetensors, written atomically.
  Napi::Value Save(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "save: path must be a string");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    claim(env);
    auto m = model;
    BusyGuard* guard = new BusyGuard(busy);
    return PromiseWorker::run(
        env,
        [m, path, guard]() {
          std::unique_ptr<BusyGuard> release(guard);
          m->save_safetensors(path);
        },
        [](Napi::Env env) { return env.Undefined(); });
  }
};

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Trainer", {InstanceMethod("step", &TrainerWrap::Step)});
  }

  // new Trainer(model, {optimizer: 'adamw'|'sgd', lr, beta1, beta2, eps, weightDecay, momentum,
  //                     schedule: 'constant'|'constant-warmup'|'cosine', warmupSteps, totalSteps, maxGradNorm})
  explicit TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "Trainer(model, options) expected");
    model_ = Napi::ObjectWrap<ModelWrap>::Unwrap(info[0].As<Napi::Object>());
    model_->loaded(env);
    model_ref_ = Napi::Persistent(info[0].As<Napi::Object>());  // keep the model alive while we train it
    Napi::Object o = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    tunesmith::TrainOptions t;
    const std::string opt = string_or(o, "optimizer", "adamw");
    if (opt == "adamw") t.optimizer.kind = tunesmith::OptimizerOptions::Kind::AdamW;
    else if (opt == "sgd") t.optimizer.kind = tunesmith::OptimizerOptions::Kind::Sgd;
    else throw Napi::Error::New(env, "optimizer must be \"adamw\" or \"sgd\", got \"" + opt + "\"");
    t.optimizer.lr = number_or(o, "lr", 1e-3);
    t.optimizer.beta1 = number_or(o, "beta1", 0.9);
    t.optimizer.beta2 = number_or(o, "beta2", 0.999);
    t.optimizer.eps = number_or(o, "eps", 1e-8);
    t.optimizer.weight_decay = number_or(o, "weightDecay", 0);
    t.optimizer.momentum = number_or(o, "momentum", 0);
    const std::string sched = string_or(o, "schedule", "constant");
    if (sched == "constant") t.schedule.kind = tunesmith::ScheduleOptions::Kind::Constant;
    else if (sched == "constant-warmup") t.schedule.kind = tunesmith::ScheduleOptions::Kind::ConstantWithWarmup;
    else if (sched == "cosine") t.schedule.kind = tunesmith::ScheduleOptions::Kind::Cosine;
    else throw Napi::Error::New(env, "schedule must be constant, constant-warmup or cosine, got \"" + sched + "\"");
    t.schedule.warmup_steps = static_cast<int64_t>(number_or(o, "warmupSteps", 0));
    t.schedule.total_steps = static_cast<int64_t>(number_or(o, "totalSteps", 0));
    t.max_grad_norm = number_or(o, "maxGradNorm", 0);
    trainer_ = std::make_shared<tunesmith::Trainer>(*model_->model, t);
  }

 private:
  // step([{tokens: Int32Array, lossMask?: Uint8Array, batch, seq}, ...]) -> Promise<{loss, gradNorm, lr, step, memory}>
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
    auto result = std::make_shared<tunesmith::StepResult>();
    BusyGuard* guard = new BusyGuard(model_->busy);
    return PromiseWorker::run(
        env,
        [trainer, batches, result, guard]() {
          std::unique_ptr<BusyGuard> release(guard);
          *result = trainer->step(batches);
        },
        [result](Napi::Env env) {
          Napi::Object o = Napi::Object::New(env);
          o.Set("loss", result->loss);
          o.Set("gradNorm", result->grad_norm);
          o.Set("lr", result->lr);
          o.Set("step", static_cast<double>(result->step));
          o.Set("memory", memory_to_js(env));
          return o;
        });
  }

  ModelWrap* model_ = nullptr;
  Napi::ObjectReference model_ref_;
  std::shared_ptr<tunesmith::Trainer> trainer_;
};

// Runs `make` on a worker thread and resolves with a JS Model object wrapping what it made.
Napi::Promise model_promise(Napi::Env env, std::function<std::shared_ptr<tunesmith::Model>()> make) {
  auto made = std::make_shared<std::shared_ptr<tunesmith::Model>>();
  auto ctor = std::make_shared<Napi::FunctionReference>(
      Napi::Persistent(env.GetInstanceData<Napi::ObjectReference>()->Get("Model").As<Napi::Function>()));
  return PromiseWorker::run(
      env, [make, made]() { *made = make(); },
      [made, ctor](Napi::Env env) {
        Napi::Object obj = ctor->New({});
        ModelWrap::Unwrap(obj)->model = *made;
        return obj;
      });
}

// loadModel(dir, {threads}) -> Promise<Model>
Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "loadModel(dir: string, options?) expected");
  const std::string dir = info[0].As<Napi::String>().Utf8Value();
  const int threads = info[1].IsObject() ? static_cast<int>(number_or(info[1].As<Napi::Object>(), "threads", 0)) : 0;
  return model_promise(env, [dir, threads]() { return std::shared_ptr<tunesmith::Model>(tunesmith::Model::load(dir, threads)); });
}

// createRandomModel(configJson: string, {seed, initStd, threads}) -> Promise<Model>: a model with
// random weights from a config.json text, for tests and benchmarks (nothing to download).
Napi::Value CreateRandomModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "createRandomModel(configJson: string, options?) expected");
  const std::string text = info[0].As<Napi::String>().Utf8Value();
  Napi::Object o = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  const uint64_t seed = static_cast<uint64_t>(number_or(o, "seed", 0));
  const double init_std = number_or(o, "initStd", 0.02);
  const int threads = static_cast<int>(number_or(o, "threads", 0));
  return model_promise(env, [text, seed, init_std, threads]() {
    return std::shared_ptr<tunesmith::Model>(
        tunesmith::Model::from_config(tunesmith::parse_llama_config(text, "config"), seed, init_std, threads));
  });
}

Napi::Value MemoryStats(const Napi::CallbackInfo& info) { return memory_to_js(info.Env()); }

void register_model_binding(Napi::Env env, Napi::Object exports) {
  Napi::Function model = ModelWrap::define(env);
  Napi::Function trainer = TrainerWrap::define(env);
  exports.Set("Model", model);
  exports.Set("Trainer", trainer);
  exports.Set("loadModel", Napi::Function::New(env, LoadModel));
  exports.Set("createRandomModel", Napi::Function::New(env, CreateRandomModel));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStats));
  Napi::Object classes = Napi::Object::New(env);
  classes.Set("Model", model);
  env.SetInstanceData(new Napi::ObjectReference(Napi::Persistent(classes)));
}

}  // namespace tunesmith_binding
