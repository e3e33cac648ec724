// Loader error cases on generated broken files: each must throw tunesmith::Error with a message
// naming the problem (and file/tensor), never crash. Plus JSON and config parsing checks, F16/BF16
// upcast, and sharded checkpoints via model.safetensors.index.json.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <vector>

#include "assets.h"
#include "check.h"
#include "core/error.h"
#include "model/config.h"
#include "model/json.h"
#include "model/model.h"
#include "model/safetensors.h"

using namespace tunesmith;
using tunesmith_test::check;

namespace {

const char* kConfig = R"({"model_type": "llama", "hidden_size": 16, "intermediate_size": 24,
  "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 10,
  "rms_norm_eps": 1e-5, "tie_word_embeddings": true, "eos_token_id": 2})";

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Writes a safetensors file from a raw header string and data bytes.
void write_raw_safetensors(const std::string& path, const std::string& header, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xff));
  out << header << data;
}

// Expects `fn` to throw tunesmith::Error whose message contains every `needle`.
void expect_error(const std::string& name, const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    check(false, name, "no error thrown");
  } catch (const Error& e) {
    bool ok = true;
    for (const auto& n : needles) ok = ok && std::string(e.what()).find(n) != std::string::npos;
    check(ok, name, std::string("message: ") + e.what());
  } catch (const std::exception& e) {
    check(false, name, std::string("wrong exception type: ") + e.what());
  }
}

}  // namespace

int main() {
  const std::string root = "/tmp/tunesmith_test_loader";
  std::system(("rm -rf " + root + " && mkdir -p " + root).c_str());

  // A good tiny model folder to start from.
  const std::string good = root + "/good";
  std::system(("mkdir -p " + good).c_str());
  write_text(good + "/config.json", kConfig);
  const LlamaConfig cfg = parse_llama_config(kConfig, "config.json");
  auto model = Model::from_config(cfg, 1, 0.02, 1);
  model->save_safetensors(good + "/model.safetensors");
  auto loaded = Model::load(good, 1);
  check(std::equal(model->parameters(), model->parameters() + model->num_parameters(), loaded->parameters()),
        "good model folder loads");
  const std::string good_bytes = read_file(good + "/model.safetensors");

  auto make_case = [&](const std::string& name, const std::string& weights_bytes) {
    const std::string dir = root + "/" + name;
    std::system(("mkdir -p " + dir).c_str());
    write_text(dir + "/config.json", kConfig);
    std::ofstream(dir + "/model.safetensors", std::ios::binary) << weights_bytes;
    return dir;
  };

  {
    const std::string dir = make_case("truncated", good_bytes.substr(0, good_bytes.size() - 100));
    expect_error("truncated file", [&] { Model::load(dir, 1); }, {"outside the file", "model.safetensors", "truncated"});
  }
  {
    const std::string dir = make_case("tiny", good_bytes.substr(0, 5));
    expect_error("file shorter than the header length", [&] { Model::load(dir, 1); }, {"truncated", "model.safetensors"});
  }
  {
    std::string bytes = good_bytes;
    bytes[0] = char(0xff), bytes[1] = char(0xff), bytes[2] = char(0xff);
    const std::string dir = make_case("header_len", bytes);
    expect_error("header length beyond the file", [&] { Model::load(dir, 1); }, {"header length", "exceeds file size"});
  }
  {
    const std::string dir = root + "/bad_offsets";
    std::system(("mkdir -p " + dir).c_str());
    write_text(dir + "/config.json", kConfig);
    write_raw_safetensors(dir + "/model.safetensors",
                          R"({"model.norm.weight":{"dtype":"F32","shape":[16],"data_offsets":[0,999999]}})",
                          std::string(64, '\0'));
    expect_error("header offsets outside the file", [&] { Model::load(dir, 1); },
                 {"model.norm.weight", "outside the file", "model.safetensors"});
    write_raw_safetensors(dir + "/model.safetensors",
                          R"({"model.norm.weight":{"dtype":"F32","shape":[16],"data_offsets":[8,4]}})",
                          std::string(64, '\0'));
    expect_error("reversed offsets", [&] { Model::load(dir, 1); }, {"model.norm.weight", "invalid"});
    write_raw_safetensors(dir + "/model.safetensors",
                          R"({"model.norm.weight":{"dtype":"F32","shape":[16],"data_offsets":[0,60]}})",
                          std::string(64, '\0'));
    expect_error("byte count does not match shape", [&] { Model::load(dir, 1); }, {"model.norm.weight", "needs 64"});
  }
  {
    const std::string dir = root + "/missing";
    std::system(("mkdir -p " + dir).c_str());
    write_text(dir + "/config.json", kConfig);
    write_raw_safetensors(dir + "/model.safetensors",
                          R"({"model.norm.weight":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}})",
                          std::string(64, '\0'));
    expect_error("missing tensor", [&] { Model::load(dir, 1); },
                 {"missing tensor 'model.embed_tokens.weight'", "model.safetensors"});
  }
  {
    // Wrong shape: a model saved with hidden 16 loaded under a config saying intermediate 32.
    std::string cfg2 = kConfig;
    cfg2.replace(cfg2.find("\"intermediate_size\": 24"), 23, "\"intermediate_size\": 32");
    const std::string dir = make_case("shape", good_bytes);
    write_text(dir + "/config.json", cfg2);
    expect_error("shape mismatch", [&] { Model::load(dir, 1); },
                 {"shape mismatch", "model.layers.0.mlp.gate_proj.weight", "expected [32, 16]", "found [24, 16]"});
  }
  {
    const std::string dir = root + "/dtype";
    std::system(("mkdir -p " + dir).c_str());
    write_text(dir + "/config.json", kConfig);
    write_raw_safetensors(dir + "/model.safetensors",
                          R"({"model.embed_tokens.weight":{"dtype":"I32","shape":[10,16],"data_offsets":[0,640]}})",
                          std::string(640, '\0'));
    expect_error("unsupported dtype", [&] { Model::load(dir, 1); },
                 {"unsupported dtype 'I32'", "model.embed_tokens.weight", "model.safetensors"});
    write_raw_safetensors(dir + "/model.safetensors",
                          R"({"model.embed_tokens.weight":{"dtype":"Q9","shape":[10,16],"data_offsets":[0,640]}})",
                          std::string(640, '\0'));
    expect_error("unknown dtype", [&] { Model::load(dir, 1); }, {"unsupported dtype 'Q9'"});
  }
  {
    const std::string dir = root + "/badjson";
    std::system(("mkdir -p " + dir).c_str());
    write_text(dir + "/config.json", kConfig);
    write_raw_safetensors(dir + "/model.safetensors", R"({"a": {"dtype": "F32", )", "");
    expect_error("bad JSON in header names the byte offset", [&] { Model::load(dir, 1); },
                 {"bad JSON", "header of", "at byte 23"});
  }
  {
    const std::string dir = root + "/noweights";
    std::system(("mkdir -p " + dir).c_str());
    write_text(dir + "/config.json", kConfig);
    expect_error("no weights file", [&] { Model::load(dir, 1); }, {"no weights in"});
    expect_error("no config", [&] { Model::load(root + "/does-not-exist", 1); }, {"cannot open", "config.json"});
  }

  // Config errors.
  expect_error("unsupported architecture", [] { parse_llama_config(R"({"model_type": "gpt2"})", "c.json"); },
               {"unsupported architecture", "gpt2", "c.json"});
  expect_error("bad JSON in config", [] { parse_llama_config("{\"model_type\": \"llama\",, }", "c.json"); },
               {"bad JSON in c.json at byte 23"});
  expect_error("heads not divisible by kv heads",
               [] {
                 parse_llama_config(R"({"model_type":"llama","hidden_size":16,"intermediate_size":8,
                   "num_hidden_layers":1,"num_attention_heads":4,"num_key_value_heads":3,"vocab_size":5})", "c.json");
               },
               {"not a multiple"});
  expect_error("unsupported rope_scaling",
               [] {
                 parse_llama_config(R"({"model_type":"llama","hidden_size":16,"intermediate_size":8,
                   "num_hidden_layers":1,"num_attention_heads":4,"vocab_size":5,"rope_scaling":{"rope_type":"yarn","factor":2}})", "c.json");
               },
               {"rope_scaling.rope_type 'yarn' is not supported"});
  expect_error("token id out of range", [&] { loaded->logits({1, 2, 99}, 1, 3); }, {"token id 99", "vocabulary"});

  // Qwen2 and llama3 rope parsing.
  {
    const LlamaConfig q = parse_llama_config(R"({"model_type":"qwen2","hidden_size":16,"intermediate_size":8,
      "num_hidden_layers":1,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":5,"tie_word_embeddings":false})", "q.json");
    check(q.qkv_bias && !q.o_bias && q.head_dim == 4 && q.num_kv_heads == 2, "qwen2 config: qkv bias, head_dim default");
    const LlamaConfig l3 = parse_llama_config(R"({"model_type":"llama","hidden_size":4096,"intermediate_size":14336,
      "num_hidden_layers":1,"num_attention_heads":32,"num_key_value_heads":8,"vocab_size":128256,"rope_theta":500000.0,
      "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
      "eos_token_id":[128001,128008,128009]})", "l3.json");
    const std::vector<float> inv = rope_inv_freq(l3);
    // Reference values from transformers' _compute_llama3_parameters for Llama-3.1-8B's config:
    // high-frequency band unchanged, low band divided by 8, the middle band smoothly interpolated.
    const double theta = 500000.0;
    const double f0 = 1.0, f63 = std::pow(theta, -126.0 / 128.0) / 8.0;
    check(std::fabs(inv[0] - f0) < 1e-7 && std::fabs(inv[63] / f63 - 1) < 1e-5 && l3.eos_token_ids.size() == 3,
          "llama3 rope scaling: inv_freq ends and eos list");
  }

  // F16 and BF16 upcast.
  {
    const std::string path = root + "/halfs.safetensors";
    std::string data;
    const uint16_t f16[2] = {0x3C00, 0xC000};   // 1.0, -2.0
    const uint16_t bf16[2] = {0x3F80, 0x4040};  // 1.0, 3.0
    data.append(reinterpret_cast<const char*>(f16), 4);
    data.append(reinterpret_cast<const char*>(bf16), 4);
    write_raw_safetensors(path,
                          R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}})",
                          data);
    auto st = SafetensorsFile::open(path);
    float h[2], b[2];
    st->read_f32("h", {2}, h);
    st->read_f32("b", {2}, b);
    check(h[0] == 1.0f && h[1] == -2.0f && b[0] == 1.0f && b[1] == 3.0f, "F16 and BF16 upcast to F32");
  }

  // Sharded checkpoint: split the good model's tensors over two files with an index.
  {
    const std::string dir = root + "/sharded";
    std::system(("mkdir -p " + dir).c_str());
    write_text(dir + "/config.json", kConfig);
    std::vector<SafetensorsWriteItem> first, second;
    std::string index = "{\"metadata\": {}, \"weight_map\": {";
    bool comma = false;
    for (const ParamInfo& p : model->layout().params) {
      const bool in_first = p.name.find("layers") == std::string::npos;
      (in_first ? first : second).push_back({p.name, p.shape, model->parameters() + p.offset});
      index += std::string(comma ? "," : "") + "\"" + p.name + "\": \"model-0000" + (in_first ? "1" : "2") + "-of-00002.safetensors\"";
      comma = true;
    }
    index += "}}";
    write_safetensors_f32(dir + "/model-00001-of-00002.safetensors", first);
    write_safetensors_f32(dir + "/model-00002-of-00002.safetensors", second);
    write_text(dir + "/model.safetensors.index.json", index);
    auto sharded = Model::load(dir, 1);
    check(std::equal(model->parameters(), model->parameters() + model->num_parameters(), sharded->parameters()),
          "sharded checkpoint via model.safetensors.index.json");
  }

  // JSON parser odds and ends.
  {
    const JsonValue v = parse_json(R"({"s":"a\u00e9\ud83d\ude00\n","n":-1.5e3,"i":12345678901234,"a":[true,false,null]})", "t");
    check(v.find("s")->as_string() == "a\xc3\xa9\xf0\x9f\x98\x80\n" && v.find("n")->as_number() == -1500.0 &&
              v.find("i")->as_int() == 12345678901234LL && v.find("a")->as_array().size() == 3,
          "JSON: escapes, surrogate pairs, numbers, int64");
    expect_error("JSON: deep nesting rejected", [] { parse_json(std::string(100000, '['), "deep"); }, {"too deep"});
  }
  return tunesmith_test::finish("test_loader");
}
