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

void load_weights_f32(const std::string& model_dir, const ParameterLayout& layout, float* params) {
  const std::string single = model_dir + "/model.safetensors";
  const std::string index_path = model_dir + "/model.safetensors.index.json";
  // tensor name -> file holding it
  std::map<std::string, std::shared_ptr<SafetensorsFile>> source;
  if (file_exists(single)) {
    auto file = SafetensorsFile::open(single);
    for (const auto& e : file->entries()) source[e.name] = file;
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
      source[m.first] = file;
    }
  } else {
    throw Error("no weights in " + model_dir + ": expected model.safetensors or model.safetensors.index.json");
  }

  for (const ParamInfo& p : layout.params) {
    auto it = source.find(p.name);
    if (it == source.end())
      throw Error("missing tensor '" + p.name + "' in " + (file_exists(single) ? single : index_path));
    it->second->read_f32(p.name, p.shape, params + p.offset);
  }
}

}  // namespace tunesmith
