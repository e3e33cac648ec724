// The JS Model class: wraps a loaded tunesmith::Model. Every call that touches weights runs on a
// worker thread and returns a promise; a model runs one such call at a time (a second one is
// refused with a clear error rather than racing). Shared with the trainer binding, which trains it.
#pragma once
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "async_work.h"
#include "convert.h"
#include "core/dtype.h"
#include "core/error.h"
#include "model/model.h"
#include "train/lora.h"
#include "train/lora_export.h"

namespace tunesmith_binding {

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Model",
                       {InstanceMethod("config", &ModelWrap::Config), InstanceMethod("numParameters", &ModelWrap::NumParameters),
                        InstanceMethod("score", &ModelWrap::Score), InstanceMethod("logits", &ModelWrap::Logits), InstanceMethod("generate", &ModelWrap::Generate),
                        InstanceMethod("setCheckpointing", &ModelWrap::SetCheckpointing),
                        InstanceMethod("save", &ModelWrap::Save), InstanceMethod("attachLora", &ModelWrap::AttachLora),
                        InstanceMethod("loadAdapter", &ModelWrap::LoadAdapter), InstanceMethod("saveAdapter", &ModelWrap::SaveAdapter),
                        InstanceMethod("saveMerged", &ModelWrap::SaveMerged),
                        InstanceMethod("trainableParameters", &ModelWrap::TrainableParameters)});
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

  // score(tokens: Int32Array, batch, seq) -> Promise<Float32Array [batch*(seq-1)]>: log-probabilities
  Napi::Value Score(const Napi::CallbackInfo& info) {
    return token_batch_call(info, "score", 2, [](tunesmith::Model& m, const std::vector<int32_t>& t, int64_t b, int64_t s) { return m.score(t, b, s); });
  }

  // logits(tokens: Int32Array, batch, seq) -> Promise<Float32Array [batch*seq*vocab]>
  Napi::Value Logits(const Napi::CallbackInfo& info) {
    return token_batch_call(info, "logits", 1, [](tunesmith::Model& m, const std::vector<int32_t>& t, int64_t b, int64_t s) { return m.logits(t, b, s); });
  }

  // Shared by score and logits: (tokens, batch, seq) in, floats computed on a worker thread out.
  using TokenBatchFn = std::vector<float> (*)(tunesmith::Model&, const std::vector<int32_t>&, int64_t, int64_t);
  Napi::Value token_batch_call(const Napi::CallbackInfo& info, const char* what, int64_t min_seq, TokenBatchFn compute) {
    Napi::Env env = info.Env();
    auto tokens = to_tokens(info[0], "tokens");
    const int64_t batch = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 1;
    const int64_t seq = info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : static_cast<int64_t>(tokens.size());
    if (batch < 1 || seq < min_seq || static_cast<int64_t>(tokens.size()) != batch * seq) {
      throw Napi::RangeError::New(env, std::string(what) + ": tokens must hold batch*seq ids with seq >= " + std::to_string(min_seq));
    }
    claim(env);
    auto m = model;
    auto out = std::make_shared<std::vector<float>>();
    auto* guard = new BusyGuard(busy);
    return PromiseWorker::run(
        env,
        [m, tokens, batch, seq, out, guard, compute]() {
          std::unique_ptr<BusyGuard> release(guard);
          *out = compute(*m, tokens, batch, seq);
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
    return run_on_model(env, [path](tunesmith::Model& m) { m.save_safetensors(path); });
  }

  // Runs `work(model)` on a worker thread while holding the model; resolves with undefined.
  Napi::Value run_on_model(Napi::Env env, std::function<void(tunesmith::Model&)> work) {
    claim(env);
    auto m = model;
    auto* guard = new BusyGuard(busy);
    return PromiseWorker::run(
        env,
        [m, work, guard]() {
          std::unique_ptr<BusyGuard> release(guard);
          work(*m);
        },
        [](Napi::Env env) { return env.Undefined(); });
  }

  // attachLora({targets: preset | string[], r, alpha, rslora, dropout, trainEmbeddings, trainHead,
  //             quantizeNf4, seed}) -> Promise<void>. QLoRA when quantizeNf4: the base Linear
  // weights become NF4 (slow for a big model, hence async).
  Napi::Value AttachLora(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
    tunesmith::LoraConfig cfg;
    try {
      Napi::Value targets = o.Get("targets");
      if (targets.IsString()) cfg.targets = tunesmith::lora_target_preset(targets.As<Napi::String>().Utf8Value());
      else if (targets.IsArray()) {
        cfg.targets.clear();
        Napi::Array a = targets.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); ++i) cfg.targets.push_back(tunesmith::parse_linear_slot(a.Get(i).ToString().Utf8Value()));
      }
    } catch (const tunesmith::Error& e) {
      throw Napi::Error::New(env, e.what());
    }
    cfg.r = static_cast<int64_t>(number_or(o, "r", 8));
    cfg.alpha = number_or(o, "alpha", 16);
    cfg.use_rslora = bool_or(o, "rslora", false);
    cfg.dropout = number_or(o, "dropout", 0);
    cfg.train_embeddings = bool_or(o, "trainEmbeddings", false);
    cfg.train_head = bool_or(o, "trainHead", false);
    cfg.quantize_base_nf4 = bool_or(o, "quantizeNf4", false);
    cfg.seed = static_cast<uint64_t>(number_or(o, "seed", 0));
    return run_on_model(env, [cfg](tunesmith::Model& m) { tunesmith::attach_lora(m, cfg); });
  }

  // loadAdapter(dir, {quantizeNf4}) -> Promise<void>: a PEFT adapter folder onto this base.
  Napi::Value LoadAdapter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "loadAdapter(dir: string, options?) expected");
    const std::string dir = info[0].As<Napi::String>().Utf8Value();
    const bool nf4 = info[1].IsObject() ? bool_or(info[1].As<Napi::Object>(), "quantizeNf4", false) : false;
    return run_on_model(env, [dir, nf4](tunesmith::Model& m) { tunesmith::load_peft_adapter(m, dir, nf4); });
  }

  // saveAdapter(dir, baseModelName) -> Promise<void>: PEFT's adapter_config.json + adapter_model.safetensors.
  Napi::Value SaveAdapter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString() || !info[1].IsString()) throw Napi::TypeError::New(env, "saveAdapter(dir: string, baseModelName: string) expected");
    const std::string dir = info[0].As<Napi::String>().Utf8Value();
    const std::string base = info[1].As<Napi::String>().Utf8Value();
    return run_on_model(env, [dir, base](tunesmith::Model& m) { tunesmith::save_peft_adapter(m, dir, base); });
  }

  // saveMerged(baseModelDir, outDir, {dtype: 'f32'|'bf16'|'f16', maxShardBytes}) -> Promise<void>
  Napi::Value SaveMerged(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString() || !info[1].IsString()) throw Napi::TypeError::New(env, "saveMerged(baseModelDir: string, outDir: string, options?) expected");
    const std::string base = info[0].As<Napi::String>().Utf8Value();
    const std::string out = info[1].As<Napi::String>().Utf8Value();
    Napi::Object o = info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
    tunesmith::MergedExportOptions opts;
    const std::string dtype = string_or(o, "dtype", "bf16");
    if (dtype == "f32") opts.dtype = tunesmith::DType::F32;
    else if (dtype == "bf16") opts.dtype = tunesmith::DType::BF16;
    else if (dtype == "f16") opts.dtype = tunesmith::DType::F16;
    else throw Napi::Error::New(env, "dtype must be f32, bf16 or f16, got \"" + dtype + "\"");
    opts.max_shard_bytes = static_cast<uint64_t>(number_or(o, "maxShardBytes", 5e9));
    return run_on_model(env, [base, out, opts](tunesmith::Model& m) { tunesmith::save_merged_model(m, base, out, opts); });
  }

  // Values the optimizer updates (adapter, plus embeddings/head when trained; all without an adapter).
  Napi::Value TrainableParameters(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(loaded(info.Env()).trainable_parameter_count()));
  }
};

}  // namespace tunesmith_binding
