// cuBLAS, loaded at run time with dlopen so the engine (and the app's addon) loads on machines
// with no GPU, and so the app can ship the library in a folder of its own or use one already on
// the machine. Only the handful of entry points the engine calls are resolved; their types are
// declared here (values from cublas_api.h / library_types.h, stable across cuBLAS 11-13) so
// building needs no cuBLAS headers.
//
// Search order (first library that loads wins; every place tried is listed in the error):
//   1. $TUNESMITH_CUBLAS_DIR
//   2. the folder bundled with the app: cuda/ (packaged: <resources>/cuda) or redist/linux/ (a
//      checkout: native/redist/linux) in the engine binary's folder or up to four above it
//   3. $CUDA_PATH/lib64, $CUDA_PATH/lib, $CUDA_HOME/lib64
//   4. the system library path (LD_LIBRARY_PATH, ldconfig cache) by soname
//   5. /usr/local/cuda/lib64
//   6. a Python nvidia-cublas install: site-packages/nvidia/{cu13,cublas}/lib under $VIRTUAL_ENV,
//      $CONDA_PREFIX, /opt/torch/.venv, /usr/local/lib/python3.*, /usr/lib/python3.*, ~/.local
// Sonames tried: libcublas.so.13, libcublas.so.12 (libcublasLt of the same version is loaded
// first from the same folder, as libcublas needs it).
#pragma once
#include <string>
#include <vector>

namespace tunesmith::gpu {

using cublasHandle_t = struct cublasContext*;
using cublasStatus_t = int;
constexpr cublasStatus_t kCublasSuccess = 0;
enum CublasOperation : int { kCublasOpN = 0, kCublasOpT = 1 };
enum CudaDataType : int { kCudaR32F = 0, kCudaR16BF = 14 };
enum CublasComputeType : int { kCublasCompute32F = 68 };
enum CublasGemmAlgo : int { kCublasGemmDefault = -1 };
enum CublasMath : int { kCublasDefaultMath = 0 };

struct CublasLibrary {
  std::string path;     // the libcublas that was loaded
  int version = 0;      // cublasGetProperty-style: major*10000 + minor*100 + patch, 0 if unknown
  cublasStatus_t (*create)(cublasHandle_t*) = nullptr;
  cublasStatus_t (*destroy)(cublasHandle_t) = nullptr;
  cublasStatus_t (*get_version)(cublasHandle_t, int*) = nullptr;
  cublasStatus_t (*gemm_ex)(cublasHandle_t, int transa, int transb, int m, int n, int k, const void* alpha,
                            const void* A, int a_type, int lda, const void* B, int b_type, int ldb, const void* beta,
                            void* C, int c_type, int ldc, int compute_type, int algo) = nullptr;
  const char* (*status_name)(cublasStatus_t) = nullptr;  // cublasGetStatusName, absent before 11.4
};

// The places searched, in order, as full paths of candidate files (for messages and tests).
std::vector<std::string> cublas_search_candidates();

// Loads cuBLAS once (thread-safe) and returns it. Throws tunesmith::Error:
//   "CUDA driver found, cuBLAS not found: looked in <each place> (...how to fix)".
const CublasLibrary& load_cublas();

// The shared handle of the engine (created on first use, on the current device).
cublasHandle_t cublas_handle();

}  // namespace tunesmith::gpu
