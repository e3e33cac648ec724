// Node-API exports for models: loadModel, checkModel, createRandomModel, memoryStats and the Model and Trainer
// classes (model_wrap.h, trainer_binding.cpp).
#include "model_binding.h"

#include <functional>
#include <memory>
#include <string>

#include "async_work.h"
#include "convert.h"
#include "model/config.h"
#include "model/weights_loader.h"
#include "model_wrap.h"
#include "trainer_binding.h"

namespace tunesmith_binding {

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

// checkModel(dir) -> Promise<ModelConfig>: everything loadModel checks before reading a weight
// (config.json, safetensors headers, each tensor's presence, dtype and shape), reading headers
// only, so a folder of any size is vetted in milliseconds.
Napi::Value CheckModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "checkModel(dir: string) expected");
  const std::string dir = info[0].As<Napi::String>().Utf8Value();
  auto config = std::make_shared<tunesmith::LlamaConfig>();
  return PromiseWorker::run(
      env, [dir, config]() { *config = tunesmith::check_model_folder(dir); },
      [config](Napi::Env env) { return config_to_js(env, *config); });
}

Napi::Value MemoryStats(const Napi::CallbackInfo& info) { return memory_to_js(info.Env()); }

void register_model_binding(Napi::Env env, Napi::Object exports) {
  Napi::Function model = ModelWrap::define(env);
  Napi::Function trainer = define_trainer_class(env);
  exports.Set("Model", model);
  exports.Set("Trainer", trainer);
  exports.Set("loadModel", Napi::Function::New(env, LoadModel));
  exports.Set("createRandomModel", Napi::Function::New(env, CreateRandomModel));
  exports.Set("checkModel", Napi::Function::New(env, CheckModel));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStats));
  Napi::Object classes = Napi::Object::New(env);
  classes.Set("Model", model);
  env.SetInstanceData(new Napi::ObjectReference(Napi::Persistent(classes)));
}

}  // namespace tunesmith_binding
