// The JS Trainer class (trainer_binding.cpp).
#pragma once
#include <napi.h>

namespace tunesmith_binding {
Napi::Function define_trainer_class(Napi::Env env);
}
