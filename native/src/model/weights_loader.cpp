#include "model/weights_loader.h"

#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "model/json.h"
#include "model/safetensors.h"

namespace tunesmith {
namespace {

bool file_exists(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return bool(f);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

WeightFiles open_weight_files(const std::string& model_dir) {
  const std::string single = model_dir + "/model.safetensors";
  const std::string index_path = model_dir + "/model.safetensors.index.json";
  WeightFiles out;
  if (file_exists(single)) {
    auto file = SafetensorsFile::open(single);
    for (const auto& e : file->entries()) out.by_tensor[e.name] = file;
    out.listing = single;
    out.file_count = 1;
  } else if (file_exists(index_path)) {
    const JsonValue index = parse_json(read_text(index_path), index_path);
    const JsonValue* map = index.find("weight_map");
    if (!map || !map->is_object()) throw Error(index_path + ": missing weight_map object");
    std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
    for (const auto& m : map->as_object()) {
      const std::string& shard = m.second.as_string(index_path + ": weight_map['" + m.first + "']");
      if (shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos || shard == ".." )
        throw Error(index_path + ": shard name '" + shard + "' must be a plain file name");
      auto& file = shards[shard];
      if (!file) file = SafetensorsFile::open(model_dir + "/" + shard);
      out.by_tensor[m.first] = file;
    }
    out.listing = index_path;
    out.file_count = shards.size();
  } else {
    throw Error("no weights in " + model_dir + ": expected model.safetensors or model.safetensors.index.json");
  }
  return out;
}

void check_weight_files(const WeightFiles& files, const ParameterLayout& layout) {
  for (const ParamInfo& p : layout.params) {
    auto it = files.by_tensor.find(p.name);
    if (it == files.by_tensor.end()) throw Error("missing tensor '" + p.name + "' in " + files.listing);
    it->second->check_f32_readable(p.name, p.shape);
  }
}

void load_weights_f32(const std::string& model_dir, const ParameterLayout& layout, float* params) {
  const WeightFiles files = open_weight_files(model_dir);
  check_weight_files(files, layout);  // every header problem before the first byte is copied
  for (const ParamInfo& p : layout.params) files.by_tensor.at(p.name)->read_f32(p.name, p.shape, params + p.offset);
}

LlamaConfig check_model_folder(const std::string& model_dir) {
  const LlamaConfig config = load_llama_config(model_dir);
  check_weight_files(open_weight_files(model_dir), ParameterLayout::build(config));
  return config;
}

}  // namespace tunesmith
