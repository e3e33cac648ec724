// Locates the shared test assets: $TUNESMITH_ASSETS, else ../shared/assets next to the repo root.
#pragma once
#include <cstdlib>
#include <fstream>
#include <string>

inline std::string assets_dir() {
  if (const char* env = std::getenv("TUNESMITH_ASSETS"); env && *env) return env;
  return std::string(TUNESMITH_REPO_ROOT) + "/../shared/assets";
}

inline bool path_exists(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return bool(f);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
