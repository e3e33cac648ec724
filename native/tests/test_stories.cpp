// The real stories260K-hf checkpoint (GQA, tied embeddings): loads, greedy generation continues
// "Once upon a time" as the model is known to, streaming, save/reload round trip. Skips when the
// shared assets are absent.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "assets.h"
#include "check.h"
#include "model/json.h"
#include "model/model.h"
#include "model/safetensors.h"

using namespace tunesmith;
using tunesmith_test::check;
using tunesmith_test::fmt;

int main() {
  const std::string dir = assets_dir() + "/models/stories260K-hf";
  if (!path_exists(dir + "/model.safetensors")) {
    tunesmith_test::skip("stories260K-hf", "assets not found at " + dir + " (set TUNESMITH_ASSETS)");
    return tunesmith_test::finish("test_stories");
  }
  auto model = Model::load(dir, 2);
  const LlamaConfig& c = model->config();
  check(c.num_kv_heads == 4 && c.num_heads == 8 && c.tie_word_embeddings && model->num_parameters() == 260032,
        "stories260K-hf loads (GQA 8/4, tied, 260032 params)");

  // "Once upon a time" = BOS(1) + SentencePiece BPE ids from tokenizer.json (▁Once ▁upon ▁a ▁time),
  // obtained once by applying the tokenizer.json merges to "▁Once▁upon▁a▁time".
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};
  // ", there was a little girl named Lily. She loved to play outside in the park" tokenised the same way.
  const std::vector<int32_t> expected = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401,
                                         396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433};
  GenerationOptions gen;
  gen.max_new_tokens = int64_t(expected.size());
  std::vector<int32_t> streamed;
  const std::vector<int32_t> out = model->generate(prompt, gen, [&](int32_t t) {
    streamed.push_back(t);
    return true;
  });

  // Decode through the vocab in tokenizer.json for a readable message.
  const JsonValue tok = parse_json(read_file(dir + "/tokenizer.json"), "tokenizer.json");
  std::vector<std::string> vocab(size_t(c.vocab_size));
  for (const auto& m : tok.find("model")->find("vocab")->as_object()) vocab[size_t(m.second.as_int())] = m.first;
  std::string text;
  for (int32_t id : out) text += vocab[size_t(id)];
  for (size_t pos; (pos = text.find("\xe2\x96\x81")) != std::string::npos;) text.replace(pos, 3, " ");
  check(out == expected, "greedy generation from 'Once upon a time'", "got: \"Once upon a time" + text + "\"");
  check(streamed == out, "token callback streams every generated token in order");

  // Stop on callback returning false after 3 tokens.
  int seen = 0;
  const auto early = model->generate(prompt, gen, [&](int32_t) { return ++seen < 3; });
  check(early.size() == 3, "callback returning false stops generation");

  // Sampling is reproducible per seed.
  GenerationOptions sample = gen;
  sample.sampling.temperature = 0.8;
  sample.sampling.top_k = 40;
  sample.sampling.top_p = 0.9;
  sample.seed = 123;
  const auto s1 = model->generate(prompt, sample);
  const auto s2 = model->generate(prompt, sample);
  check(s1 == s2 && !s1.empty(), "seeded top-k/top-p sampling is reproducible");

  // Decode path (KV cache) agrees with the full forward on the prompt + continuation.
  std::vector<int32_t> seq = prompt;
  seq.insert(seq.end(), expected.begin(), expected.end());
  const std::vector<float> full = model->logits(seq, 1, int64_t(seq.size()));
  int agree = 0;
  for (size_t t = prompt.size() - 1; t + 1 < seq.size(); ++t) {
    const float* row = full.data() + t * size_t(c.vocab_size);
    int32_t best = 0;
    for (int32_t j = 1; j < c.vocab_size; ++j)
      if (row[j] > row[best]) best = j;
    agree += best == seq[t + 1];
  }
  check(agree == int(expected.size()), "full-sequence forward argmax matches greedy continuation",
        std::to_string(agree) + "/" + std::to_string(expected.size()));

  // Save and reload: identical weights, tied model has no lm_head.weight.
  const std::string out_dir = "/tmp/tunesmith_test_stories_save";
  std::system(("mkdir -p " + out_dir + " && cp " + dir + "/config.json " + out_dir + "/").c_str());
  model->save_safetensors(out_dir + "/model.safetensors");
  auto reloaded = Model::load(out_dir, 2);
  const bool same = std::equal(model->parameters(), model->parameters() + model->num_parameters(), reloaded->parameters());
  const auto st = SafetensorsFile::open(out_dir + "/model.safetensors");
  check(same && st->find("lm_head.weight") == nullptr && st->entries().size() == 47,
        "save_safetensors round trip (47 tensors, no lm_head for tied)");
  return tunesmith_test::finish("test_stories");
}
