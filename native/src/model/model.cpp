#include "model/model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "model/safetensors.h"
#include "model/weights_loader.h"

namespace tunesmith {

std::vector<int32_t> make_targets(const TrainBatch& b) {
  const size_t n = size_t(b.batch * b.seq);
  if (b.batch <= 0 || b.seq <= 0) throw Error("TrainBatch: batch and seq must be positive");
  if (b.tokens.size() != n)
    throw Error("TrainBatch: " + std::to_string(b.tokens.size()) + " tokens for batch " + std::to_string(b.batch) +
                " x seq " + std::to_string(b.seq));
  if (!b.loss_mask.empty() && b.loss_mask.size() != n)
    throw Error("TrainBatch: loss_mask has " + std::to_string(b.loss_mask.size()) + " entries, expected " +
                std::to_string(n));
  std::vector<int32_t> targets(n, -1);
  for (int64_t r = 0; r < b.batch; ++r)
    for (int64_t s = 0; s + 1 < b.seq; ++s) {
      const size_t next = size_t(r * b.seq + s + 1);
      if (b.loss_mask.empty() || b.loss_mask[next]) targets[next - 1] = b.tokens[next];
    }
  return targets;
}

Model::Model(const LlamaConfig& config, int threads) : backend_(threads), transformer_(config, backend_) {}

std::unique_ptr<Model> Model::load(const std::string& model_dir, int threads) {
  const LlamaConfig config = load_llama_config(model_dir);
  std::unique_ptr<Model> model(new Model(config, threads));
  load_weights_f32(model_dir, model->layout(), model->parameters());
  return model;
}

std::unique_ptr<Model> Model::from_config(const LlamaConfig& config, uint64_t seed, double init_std, int threads) {
  config.validate("model config");
  std::unique_ptr<Model> model(new Model(config, threads));
  Rng rng(seed);
  float* p = model->parameters();
  for (const ParamInfo& info : model->layout().params) {
    const bool is_norm = info.name.find("norm") != std::string::npos;
    const bool is_bias = info.name.size() > 5 && info.name.compare(info.name.size() - 5, 5, ".bias") == 0;
    for (int64_t i = 0; i < info.numel; ++i)
      p[info.offset + size_t(i)] = is_norm ? 1.0f : is_bias ? 0.0f : float(rng.normal() * init_std);
  }
  return model;
}

std::vector<float> Model::logits(const std::vector<int32_t>& tokens, int64_t batch, int64_t seq) {
  if (int64_t(tokens.size()) != batch * seq) throw Error("logits: token count does not match batch x seq");
  transformer_.forward(tokens.data(), nullptr, batch, seq, false);
  const size_t n = size_t(batch * seq * config().vocab_size);
  return std::vector<float>(transformer_.logits(), transformer_.logits() + n);
}

std::vector<float> Model::score(const std::vector<int32_t>& tokens, int64_t batch, int64_t seq) {
  TrainBatch b;
  b.batch = batch;
  b.seq = seq;
  b.tokens = tokens;
  const std::vector<int32_t> targets = make_targets(b);
  transformer_.forward(tokens.data(), targets.data(), batch, seq, false);
  std::vector<float> out;
  out.reserve(size_t(batch * (seq - 1)));
  for (int64_t r = 0; r < batch; ++r)
    for (int64_t s = 0; s + 1 < seq; ++s) out.push_back(-transformer_.token_nll()[r * seq + s]);
  return out;
}

double Model::loss(const TrainBatch& batch) {
  const std::vector<int32_t> targets = make_targets(batch);
  return transformer_.forward(batch.tokens.data(), targets.data(), batch.batch, batch.seq, false);
}

double Model::forward_backward(const TrainBatch& batch, double grad_scale) {
  const std::vector<int32_t> targets = make_targets(batch);
  const double l = transformer_.forward(batch.tokens.data(), targets.data(), batch.batch, batch.seq, true);
  transformer_.backward(grad_scale);
  return l;
}

void Model::zero_gradients() {
  transformer_.ensure_grads();
  transformer_.zero_grads();
  if (adapter_) adapter_->zero_gradients();
}

std::vector<int32_t> Model::generate(const std::vector<int32_t>& prompt, const GenerationOptions& options,
                                     const TokenCallback& on_token) {
  if (prompt.empty()) throw Error("generate: the prompt must contain at least one token (e.g. BOS)");
  if (options.max_new_tokens < 0) throw Error("generate: max_new_tokens must be >= 0");
  const std::vector<int32_t> stop_ids = [&] {
    if (!options.stop_ids.empty()) return options.stop_ids;
    std::vector<int32_t> ids;
    for (int64_t e : config().eos_token_ids) ids.push_back(int32_t(e));
    return ids;
  }();
  KvCache<float> cache;
  transformer_.init_cache(cache, int64_t(prompt.size()) + options.max_new_tokens);
  Rng rng(options.seed);
  const float* logits = nullptr;
  for (int32_t token : prompt) logits = transformer_.decode_step(token, cache);
  std::vector<int32_t> generated;
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    const int32_t next = choose_next_token(logits, config().vocab_size, options.sampling, rng);
    if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) break;
    generated.push_back(next);
    if (on_token && !on_token(next)) break;
    if (i + 1 < options.max_new_tokens) logits = transformer_.decode_step(next, cache);
  }
  return generated;
}

void Model::save_safetensors(const std::string& path) const {
  std::vector<SafetensorsWriteItem> items;
  for (const ParamInfo& p : transformer_.layout().params) items.push_back({p.name, p.shape, transformer_.params() + p.offset});
  write_safetensors_f32(path, items, {{"format", "pt"}});
}

}  // namespace tunesmith

namespace tunesmith {

void Model::attach_adapter(std::shared_ptr<ModelAdapter> adapter) {
  if (!adapter) throw Error("attach_adapter: null adapter");
  const ParameterLayout& l = layout();
  const std::vector<bool> trainable = adapter->trainable_base_parameters(l);
  if (trainable.size() != l.params.size())
    throw Error("attach_adapter: " + std::to_string(trainable.size()) + " trainable flags for " +
                std::to_string(l.params.size()) + " parameters");
  // Frozen base parameters get no gradient storage: the trainable ones (embeddings / head when
  // trained) get one compact buffer, reached through gradient routes; the full buffer is freed.
  size_t total = 0;
  for (size_t i = 0; i < l.params.size(); ++i)
    if (trainable[i]) total += size_t(l.params[i].numel);
  transformer_.release_grads();
  base_grads_.release();
  base_grads_.resize(total);
  std::vector<Transformer<float>::GradientRoute> routes;
  size_t at = 0;
  for (size_t i = 0; i < l.params.size(); ++i)
    if (trainable[i]) {
      routes.push_back({l.params[i].offset, size_t(l.params[i].numel), base_grads_.data() + at});
      at += size_t(l.params[i].numel);
    }
  transformer_.set_gradient_routes(std::move(routes));  // empty: every base parameter frozen
  transformer_.set_linear_override(adapter->linear_override());
  adapter_ = std::move(adapter);
}

void Model::detach_adapter() {
  transformer_.set_linear_override(nullptr);
  transformer_.clear_gradient_routes();
  base_grads_.release();
  adapter_.reset();
}

int64_t Model::trainable_parameter_count() {
  int64_t n = 0;
  if (transformer_.has_gradient_routes()) {
    for (const auto& route : transformer_.gradient_routes()) n += static_cast<int64_t>(route.count);
  } else if (!adapter_) {
    n = static_cast<int64_t>(num_parameters());
  }
  if (adapter_)
    for (const TrainableSpan<float>& s : adapter_->trainable_spans()) n += s.count;
  return n;
}

TrainableView<float> Model::trainable_spans() {
  transformer_.ensure_grads();
  TrainableView<float> view;
  for (const ParamInfo& info : layout().params) {
    float* grad = transformer_.grad_of(info.offset);
    if (!grad) continue;
    float* param = parameters() + info.offset;
    TrainableSpan<float>* last = view.spans.empty() ? nullptr : &view.spans.back();
    if (last && last->data + last->count == param && last->grad + last->count == grad) {
      last->count += info.numel;
      last->name = "base parameters";
    } else {
      view.spans.push_back({param, info.numel, grad, info.name});
    }
  }
  if (adapter_)
    for (const TrainableSpan<float>& s : adapter_->trainable_spans()) view.spans.push_back(s);
  return view;
}

}  // namespace tunesmith
