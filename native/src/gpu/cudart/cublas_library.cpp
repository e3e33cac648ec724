#include "gpu/cudart/cublas_library.h"

#include <dirent.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "core/error.h"

namespace tunesmith::gpu {

namespace {

const char* const kSonames[] = {"libcublas.so.13", "libcublas.so.12"};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string directory_of_this_binary() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&directory_of_this_binary), &info) == 0 || !info.dli_fname) return "";
  std::string path = info.dli_fname;
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::vector<std::string> list_matching(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(prefix, 0) == 0) out.push_back(dir + "/" + name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Folders that may hold libcublas.so.*, in search order ("" = the system path, by soname).
std::vector<std::string> search_folders() {
  std::vector<std::string> folders;
  if (!env("TUNESMITH_CUBLAS_DIR").empty()) folders.push_back(env("TUNESMITH_CUBLAS_DIR"));
  // The app's own copy: the packaged app keeps it in <resources>/cuda and a development checkout
  // in native/redist/linux; the engine binary sits a few folders below either.
  std::string dir = directory_of_this_binary();
  for (int up = 0; up < 5 && !dir.empty(); ++up) {
    folders.push_back(dir + "/cuda");
    folders.push_back(dir + "/redist/linux");
    dir += "/..";
  }
  for (const char* var : {"CUDA_PATH", "CUDA_HOME"}) {
    const std::string root = env(var);
    if (root.empty()) continue;
    folders.push_back(root + "/lib64");
    folders.push_back(root + "/lib");
  }
  folders.push_back("");
  folders.push_back("/usr/local/cuda/lib64");
  std::vector<std::string> python_roots;
  for (const char* var : {"VIRTUAL_ENV", "CONDA_PREFIX"})
    if (!env(var).empty()) python_roots.push_back(env(var) + "/lib");
  python_roots.push_back("/opt/torch/.venv/lib");
  python_roots.push_back("/usr/local/lib");
  python_roots.push_back("/usr/lib");
  if (!env("HOME").empty()) python_roots.push_back(env("HOME") + "/.local/lib");
  for (const std::string& root : python_roots)
    for (const std::string& python : list_matching(root, "python3"))
      for (const char* packages : {"/site-packages", "/dist-packages"})
        for (const char* sub : {"/nvidia/cu13/lib", "/nvidia/cublas/lib"}) folders.push_back(python + packages + sub);
  return folders;
}

std::string loader_error() {
  const char* e = dlerror();
  return e ? std::string(e) : std::string("unknown dlopen error");
}

template <typename F>
void resolve(void* lib, const char* symbol, F& out, bool required) {
  out = reinterpret_cast<F>(dlsym(lib, symbol));
  if (!out && required) throw Error(std::string("cuBLAS loaded but has no ") + symbol + " (too old a version?)");
}

CublasLibrary load_once() {
  std::vector<std::string> tried;
  for (const std::string& folder : search_folders()) {
    for (const char* soname : kSonames) {
      const std::string path = folder.empty() ? std::string(soname) : folder + "/" + soname;
      // libcublas needs libcublasLt of its own version: load that first from the same folder, so
      // the dynamic linker does not pick up a different one from elsewhere.
      std::string lt = std::string(soname).replace(0, 9, "libcublasLt");
      if (!folder.empty()) lt = folder + "/" + lt;
      dlopen(lt.c_str(), RTLD_NOW | RTLD_GLOBAL);
      void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!lib) {
        tried.push_back((folder.empty() ? "the system library path (" + std::string(soname) + ")" : path) + ": " +
                        loader_error());
        continue;
      }
      CublasLibrary l;
      l.path = path;
      resolve(lib, "cublasCreate_v2", l.create, true);
      resolve(lib, "cublasDestroy_v2", l.destroy, true);
      resolve(lib, "cublasGetVersion_v2", l.get_version, false);
      resolve(lib, "cublasGemmEx", l.gemm_ex, true);
      resolve(lib, "cublasGetStatusName", l.status_name, false);
      return l;
    }
  }
  std::string message = "CUDA driver found, cuBLAS not found: looked in";
  for (const std::string& t : tried) message += "\n  - " + t;
  message +=
      "\nInstall the CUDA toolkit's cuBLAS (libcublas.so.13 or .12), `pip install nvidia-cublas`, or set "
      "TUNESMITH_CUBLAS_DIR to the folder that holds libcublas.so.*";
  throw Error(message);
}

}  // namespace

std::vector<std::string> cublas_search_candidates() {
  std::vector<std::string> out;
  for (const std::string& folder : search_folders())
    for (const char* soname : kSonames) out.push_back(folder.empty() ? std::string(soname) : folder + "/" + soname);
  return out;
}

const CublasLibrary& load_cublas() {
  static std::mutex mutex;
  static std::unique_ptr<CublasLibrary> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  if (!loaded) loaded = std::make_unique<CublasLibrary>(load_once());
  return *loaded;
}

cublasHandle_t cublas_handle() {
  static std::mutex mutex;
  static cublasHandle_t handle = nullptr;
  const CublasLibrary& l = load_cublas();
  std::lock_guard<std::mutex> lock(mutex);
  if (!handle) {
    const cublasStatus_t status = l.create(&handle);
    if (status != kCublasSuccess)
      throw Error(std::string("cublasCreate failed: ") + (l.status_name ? l.status_name(status) : std::to_string(status)));
  }
  return handle;
}

}  // namespace tunesmith::gpu
