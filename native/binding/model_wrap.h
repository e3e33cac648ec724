// The JS Model class: wraps a loaded tunesmith::Model. Every call that touches weights runs on a
// worker thread and returns a promise; a model runs one such call at a time (a second one is
// refused with a clear error rather than racing). Shared with the trainer binding, which trains it.
#pragma once
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "async_work.h"
#include "convert.h"
#include "model/model.h"

namespace tunesmith_binding {

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

}  // namespace tunesmith_binding
