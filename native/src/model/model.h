// Public C++ API of the engine for the Node binding: a Llama-family model on the CPU reference
// backend. Everything throws tunesmith::Error (core/error.h) on bad input; nothing aborts.
//
//   auto model = tunesmith::Model::load("/path/to/hf-folder");      // config.json + safetensors
//   auto logprobs = model->score(tokens, batch, seq);                // per-token log-probs
//   tunesmith::Trainer trainer(*model, options);                     // train/trainer.h
//   trainer.step({batch});                                           // one optimizer step
//   model->generate(prompt, gen, [](int32_t id) { ...; return true; });
//   model->save_safetensors("/out/model.safetensors");
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cpu/cpu_backend.h"
#include "model/adapter.h"
#include "model/config.h"
#include "model/parameters.h"
#include "model/sampling.h"
#include "model/transformer.h"

namespace tunesmith {

// A batch of `batch` rows of `seq` tokens. loss_mask[t] = 1 marks token t as one the model should
// learn to predict (a response token); the loss is the mean over masked-in tokens of
// -log p(token[t] | tokens before it). Position 0 of a row is never predicted. An empty loss_mask
// means every token (except each row's first) counts.
struct TrainBatch {
  int64_t batch = 1;
  int64_t seq = 0;
  std::vector<int32_t> tokens;
  std::vector<uint8_t> loss_mask;
};

// targets[t] = tokens[t+1] when t+1 is in the same row and loss_mask[t+1] is set, else -1.
std::vector<int32_t> make_targets(const TrainBatch& batch);

struct GenerationOptions {
  int64_t max_new_tokens = 64;
  SamplingOptions sampling;       // default: greedy
  uint64_t seed = 0;
  std::vector<int32_t> stop_ids;  // empty: the config's eos_token_id(s)
};

// Called with each new token as soon as it is chosen; return false to stop early.
using TokenCallback = std::function<bool(int32_t token)>;

class Model {
 public:
  // Loads config.json and (sharded) safetensors from a Hugging Face folder. threads <= 0: all cores.
  static std::unique_ptr<Model> load(const std::string& model_dir, int threads = 0);
  // A randomly initialised model (weights ~ N(0, init_std), norms 1, biases 0), for tests/benches.
  static std::unique_ptr<Model> from_config(const LlamaConfig& config, uint64_t seed, double init_std = 0.02,
                                            int threads = 0);

  const LlamaConfig& config() const { return transformer_.config(); }
  const ParameterLayout& layout() const { return transformer_.layout(); }
  size_t num_parameters() const { return transformer_.num_params(); }
  float* parameters() { return transformer_.params(); }
  float* gradients() { return transformer_.grads(); }  // null until the first backward
  Transformer<float>& transformer() { return transformer_; }
  CpuBackend<float>& backend() { return backend_; }

  // Recompute each layer's internals in backward instead of storing them (same gradients, less memory).
  void set_checkpointing(bool on) { transformer_.set_checkpointing(on); }

  // logits for every position: [batch*seq*vocab].
  std::vector<float> logits(const std::vector<int32_t>& tokens, int64_t batch, int64_t seq);
  // log p(tokens[t+1] | tokens[..t]) for each row and t < seq-1: [batch*(seq-1)].
  std::vector<float> score(const std::vector<int32_t>& tokens, int64_t batch, int64_t seq);
  // Mean masked loss, no gradient.
  double loss(const TrainBatch& batch);
  // Forward + backward; ACCUMULATES d(loss·grad_scale)/dθ into gradients(). Returns the loss.
  double forward_backward(const TrainBatch& batch, double grad_scale = 1.0);
  void zero_gradients();

  // Greedy or sampled continuation of `prompt` with a KV cache. Stops at a stop id (not included
  // in the result), after max_new_tokens, or when the callback returns false. Returns new tokens.
  std::vector<int32_t> generate(const std::vector<int32_t>& prompt, const GenerationOptions& options,
                                const TokenCallback& on_token = nullptr);

  // Hugging Face safetensors, f32, same tensor names (tied models omit lm_head.weight), atomic.
  void save_safetensors(const std::string& path) const;

  // --- Adapters (LoRA / QLoRA: train/lora.h attaches one) --------------------------------------
  // Routes the adapter's Linear layers through it and freezes the base parameters it does not
  // list as trainable: those it lists get a compact gradient buffer reached through gradient
  // routes (model/transformer.h), the rest no gradient storage at all, and gradients() stays
  // null. Replaces any previous adapter (and any gradient routes installed by someone else).
  void attach_adapter(std::shared_ptr<ModelAdapter> adapter);
  void detach_adapter();  // back to full fine-tuning of every (still stored) parameter
  ModelAdapter* adapter() const { return adapter_.get(); }
  // Everything the optimizer updates, with gradients: trainable base parameters (contiguous runs
  // merged), then the adapter's spans (LoRA: one span, A and B of every module). Allocates the full
  // gradient buffer when no routes are set. Without an adapter: one span, all parameters.
  TrainableView<float> trainable_spans();
  // How many values trainable_spans() would cover, without allocating gradients to find out (a
  // zeroth-order run must never hold a gradient buffer).
  int64_t trainable_parameter_count();

 private:
  Model(const LlamaConfig& config, int threads);
  CpuBackend<float> backend_;
  Transformer<float> transformer_;
  std::shared_ptr<ModelAdapter> adapter_;
  TrackedBuffer<float> base_grads_;  // gradients of the trainable base parameters, adapter attached
};

}  // namespace tunesmith
