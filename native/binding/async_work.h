// Running engine work off the JS thread. PromiseWorker runs a C++ callable on the libuv pool and
// settles a promise: the result is converted on the JS thread; any exception (tunesmith::Error
// included) becomes a rejected promise with its message, never a crash.
#pragma once
#include <napi.h>

#include <exception>
#include <functional>
#include <utility>

namespace tunesmith_binding {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Convert = std::function<Napi::Value(Napi::Env)>;

  static Napi::Promise run(Napi::Env env, Work work, Convert convert) {
    auto* worker = new PromiseWorker(env, std::move(work), std::move(convert));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown engine error");
    }
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    try {
      deferred_.Resolve(convert_(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  PromiseWorker(Napi::Env env, Work work, Convert convert)
      : Napi::AsyncWorker(env), work_(std::move(work)), convert_(std::move(convert)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Work work_;
  Convert convert_;
  Napi::Promise::Deferred deferred_;
};

}  // namespace tunesmith_binding

namespace tunesmith_binding {

// Like PromiseWorker, for work that reports as it goes: `work` gets a send(const Item&) function;
// each item is carried to the JS thread, converted by `to_js` and passed to `on_item`.
template <typename Item>
class ProgressPromiseWorker : public Napi::AsyncProgressQueueWorker<Item> {
 public:
  using Send = std::function<void(const Item&)>;
  using Work = std::function<void(const Send&)>;
  using ItemToJs = std::function<Napi::Value(Napi::Env, const Item&)>;
  using Convert = std::function<Napi::Value(Napi::Env)>;

  static Napi::Promise run(Napi::Env env, Napi::Function on_item, Work work, ItemToJs to_js, Convert convert) {
    auto* worker = new ProgressPromiseWorker(env, on_item, std::move(work), std::move(to_js), std::move(convert));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 protected:
  using Progress = typename Napi::AsyncProgressQueueWorker<Item>::ExecutionProgress;

  void Execute(const Progress& progress) override {
    try {
      work_([&](const Item& item) { progress.Send(&item, 1); });
    } catch (const std::exception& e) {
      this->SetError(e.what());
    } catch (...) {
      this->SetError("unknown engine error");
    }
  }
  void OnProgress(const Item* items, size_t count) override {
    Napi::HandleScope scope(this->Env());
    for (size_t i = 0; i < count; ++i) on_item_.Call({to_js_(this->Env(), items[i])});
  }
  void OnOK() override {
    Napi::HandleScope scope(this->Env());
    deferred_.Resolve(convert_(this->Env()));
  }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  ProgressPromiseWorker(Napi::Env env, Napi::Function on_item, Work work, ItemToJs to_js, Convert convert)
      : Napi::AsyncProgressQueueWorker<Item>(env),
        work_(std::move(work)),
        to_js_(std::move(to_js)),
        convert_(std::move(convert)),
        deferred_(Napi::Promise::Deferred::New(env)) {
    on_item_ = Napi::Persistent(on_item);
  }
  Work work_;
  ItemToJs to_js_;
  Convert convert_;
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference on_item_;
};

}  // namespace tunesmith_binding
