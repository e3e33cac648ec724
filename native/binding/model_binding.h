// Exports Model, Trainer, loadModel and memoryStats (model_binding.cpp).
#pragma once
#include <napi.h>

namespace tunesmith_binding {
void register_model_binding(Napi::Env env, Napi::Object exports);
}
