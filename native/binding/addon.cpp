// Node-API binding: a thin wrapper over the engine core. No engine logic lives here: each export
// converts arguments, runs core code (long work on a worker thread) and converts results back.
#include <napi.h>

#include <atomic>
#include <memory>
#include <stdexcept>

#include "core/engine_info.h"
#include "core/selftest.h"
#include "async_work.h"
#include "model_binding.h"

namespace {

Napi::Object cuda_probe_to_js(Napi::Env env, const tunesmith::CudaProbe& probe) {
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("compiled", probe.compiled);
  cuda.Set("runtimeVersion", probe.runtime_version);
  cuda.Set("driverVersion", probe.driver_version);
  cuda.Set("error", probe.error.empty() ? env.Null() : Napi::String::New(env, probe.error));
  Napi::Array devices = Napi::Array::New(env, probe.devices.size());
  for (size_t i = 0; i < probe.devices.size(); ++i) {
    const auto& d = probe.devices[i];
    Napi::Object dev = Napi::Object::New(env);
    dev.Set("index", d.index);
    dev.Set("name", d.name);
    dev.Set("totalMemory", static_cast<double>(d.total_memory));
    dev.Set("freeMemory", static_cast<double>(d.free_memory));
    dev.Set("computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
    dev.Set("multiprocessors", d.multiprocessors);
    devices.Set(static_cast<uint32_t>(i), dev);
  }
  cuda.Set("devices", devices);
  return cuda;
}

Napi::Value EngineInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const tunesmith::EngineInfo e = tunesmith::engine_info();
  Napi::Object out = Napi::Object::New(env);
  out.Set("version", e.version);
  Napi::Array backends = Napi::Array::New(env, e.backends.size());
  for (size_t i = 0; i < e.backends.size(); ++i) backends.Set(static_cast<uint32_t>(i), e.backends[i]);
  out.Set("backends", backends);
  out.Set("cpuThreads", e.cpu_threads);
  out.Set("compiler", e.compiler);
  out.Set("cuda", cuda_probe_to_js(env, e.cuda));
  return out;
}

// selfTest({rounds, size, seed, threads}, onRound) -> { promise, cancel() }
Napi::Value SelfTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "selfTest(options: object, onRound: function) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object opts = info[0].As<Napi::Object>();
  tunesmith::SelfTestOptions options;
  auto read_int = [&](const char* key, int& into) {
    if (opts.Has(key) && !opts.Get(key).IsUndefined()) into = opts.Get(key).As<Napi::Number>().Int32Value();
  };
  read_int("rounds", options.rounds);
  read_int("size", options.size);
  int seed = static_cast<int>(options.seed);
  read_int("seed", seed);
  options.seed = static_cast<uint64_t>(seed);
  int threads = 0;
  read_int("threads", threads);
  options.threads = threads > 0 ? static_cast<unsigned>(threads) : 0;

  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto result = std::make_shared<tunesmith::SelfTestResult>();
  Napi::Promise promise = tunesmith_binding::ProgressPromiseWorker<tunesmith::SelfTestRound>::run(
      env, info[1].As<Napi::Function>(),
      [options, cancel, result](const auto& send) { *result = tunesmith::run_self_test(options, *cancel, send); },
      [](Napi::Env env, const tunesmith::SelfTestRound& r) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("round", r.round);
        o.Set("rounds", r.rounds);
        o.Set("maxRelError", r.max_rel_error);
        o.Set("gflops", r.gflops);
        return o;
      },
      [result](Napi::Env env) {
        Napi::Object out = Napi::Object::New(env);
        out.Set("passed", result->passed);
        out.Set("cancelled", result->cancelled);
        out.Set("roundsDone", result->rounds_done);
        out.Set("maxRelError", result->max_rel_error);
        out.Set("tolerance", result->tolerance);
        out.Set("meanGflops", result->mean_gflops);
        out.Set("seconds", result->seconds);
        return out;
      });

  Napi::Object handle = Napi::Object::New(env);
  handle.Set("promise", promise);
  handle.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo&) { cancel->store(true); }));
  return handle;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("engineInfo", Napi::Function::New(env, EngineInfo));
  exports.Set("selfTest", Napi::Function::New(env, SelfTest));
  tunesmith_binding::register_model_binding(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(tunesmith_native, Init)
