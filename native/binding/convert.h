// Conversions between JS values and engine types, shared by the model and trainer bindings.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"

namespace tunesmith_binding {

// An Int32Array of token ids; throws a TypeError naming `what` otherwise.
std::vector<int32_t> to_tokens(const Napi::Value& v, const char* what);
// A Uint8Array of `expected` entries, or empty for undefined/null.
std::vector<uint8_t> to_mask(const Napi::Value& v, size_t expected, const char* what);
double number_or(const Napi::Object& o, const char* key, double fallback);
std::string string_or(const Napi::Object& o, const char* key, const std::string& fallback);
bool bool_or(const Napi::Object& o, const char* key, bool fallback);
Napi::Object config_to_js(Napi::Env env, const tunesmith::LlamaConfig& c);
Napi::Object memory_to_js(Napi::Env env);

// Marks a model busy for the duration of one async call.
class BusyGuard {
 public:
  explicit BusyGuard(std::shared_ptr<std::atomic<bool>> flag) : flag_(std::move(flag)) {}
  ~BusyGuard() { flag_->store(false); }
 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace tunesmith_binding
