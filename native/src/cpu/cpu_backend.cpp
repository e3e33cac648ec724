#include "cpu/cpu_backend.h"

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "cpu/ops.h"

namespace tunesmith {
namespace {

// Per-op wall-time profile, on when TUNESMITH_CPU_PROFILE is set: totals by op and shape, printed
// at exit. A measuring aid for native/PERF_NOTES.md; off by default (one getenv, cached).
struct OpProfile {
  struct Entry {
    double seconds = 0;
    double cpu_seconds = 0;  // process CPU time (all threads): robust to other load on the machine
    double flops = 0;
    int64_t calls = 0;
  };
  std::map<std::string, Entry> entries;
  ~OpProfile() {
    if (entries.empty()) return;
    double total = 0;
    for (auto& e : entries) total += e.second.seconds;
    double cpu_total = 0;
    for (auto& e : entries) cpu_total += e.second.cpu_seconds;
    std::fprintf(stderr, "\n%-44s %8s %9s %6s %8s %9s %6s\n", "op", "calls", "wall ms", "%", "GFLOP/s", "cpu ms",
                 "%");
    for (auto& e : entries)
      std::fprintf(stderr, "%-44s %8lld %9.1f %6.1f %8.1f %9.1f %6.1f\n", e.first.c_str(), (long long)e.second.calls,
                   e.second.seconds * 1e3, 100 * e.second.seconds / total,
                   e.second.flops > 0 ? e.second.flops / e.second.seconds / 1e9 : 0.0, e.second.cpu_seconds * 1e3,
                   100 * e.second.cpu_seconds / cpu_total);
    std::fprintf(stderr, "%-44s %8s %9.1f %6s %8s %9.1f\n", "total", "", total * 1e3, "", "", cpu_total * 1e3);
  }
};

bool profiling() {
  static const bool on = std::getenv("TUNESMITH_CPU_PROFILE") != nullptr;
  return on;
}

OpProfile& profile() {
  static OpProfile p;
  return p;
}

struct OpTimer {
  std::string label;
  double flops;
  std::chrono::steady_clock::time_point t0;
  std::clock_t c0 = 0;
  OpTimer(const char* name, int64_t a = 0, int64_t b = 0, int64_t c = 0, double fl = 0) : flops(fl) {
    if (!profiling()) return;
    label = name;
    if (a) label += " " + std::to_string(a) + "x" + std::to_string(b) + "x" + std::to_string(c);
    t0 = std::chrono::steady_clock::now();
    c0 = std::clock();
  }
  ~OpTimer() {
    if (label.empty()) return;
    auto& e = profile().entries[label];
    e.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    e.cpu_seconds += double(std::clock() - c0) / CLOCKS_PER_SEC;
    e.flops += flops;
    ++e.calls;
  }
};

}  // namespace

template <typename T>
CpuBackend<T>::CpuBackend(int threads) : pool_(threads) {}

// y = x·Wᵀ: the gemm packs W's rows straight into its column panels, so no transposed copy.
template <typename T>
void CpuBackend<T>::matmul_forward(T* y, const T* x, const T* w, const T* bias, int64_t n, int64_t in, int64_t out) {
  OpTimer timer_(n <= 2 ? "matmul_fwd_decode" : "matmul_fwd", n, in, out, 2.0 * n * in * out);
  if (n <= 2) {
    // Decode (one token): dot products straight from W's rows; transposing W would cost as much
    // as the multiply itself.
    pool_.parallel_for(out, [&](int64_t begin, int64_t end) {
      for (int64_t t = 0; t < n; ++t)
        for (int64_t o = begin; o < end; ++o) y[t * out + o] = cpu::dot(x + t * in, w + o * in, in) + (bias ? bias[o] : T(0));
    });
    return;
  }
  if (bias) {
    pool_.parallel_for(n, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t)
        for (int64_t o = 0; o < out; ++o) y[t * out + o] = bias[o];
    });
  }
  cpu::gemm_ex(&pool_, x, in, false, w, in, /*b_transposed=*/true, y, out, n, out, in, bias != nullptr);
}

template <typename T>
void CpuBackend<T>::matmul_backward_input(T* dx, const T* dy, const T* w, int64_t n, int64_t in, int64_t out,
                                          bool accumulate) {
  OpTimer timer_("matmul_bwd_input", n, in, out, 2.0 * n * in * out);
  cpu::gemm(pool_, dy, out, w, in, dx, in, n, in, out, accumulate);
}

// dW[out, in] += dyᵀ[out, n] · x[n, in], the gemm reading dy [n, out] as a transposed A.
template <typename T>
void CpuBackend<T>::matmul_backward_weight(T* dw, T* dbias, const T* dy, const T* x, int64_t n, int64_t in,
                                           int64_t out) {
  OpTimer timer_("matmul_bwd_weight", n, in, out, 2.0 * n * in * out);
  cpu::gemm_ex(&pool_, dy, out, /*a_transposed=*/true, x, in, false, dw, in, out, in, n, true);
  if (dbias) {
    // Columns of dy split over threads, each summed over tokens in order.
    pool_.parallel_for(out, [&](int64_t begin, int64_t end) {
      std::vector<T> sum(size_t(end - begin), T(0));
      for (int64_t t = 0; t < n; ++t)
        for (int64_t o = begin; o < end; ++o) sum[size_t(o - begin)] += dy[t * out + o];
      for (int64_t o = begin; o < end; ++o) dbias[o] += sum[size_t(o - begin)];
    });
  }
}

template <typename T>
void CpuBackend<T>::embedding_forward(T* out, const int32_t* ids, const T* table, int64_t n, int64_t dim) {
  OpTimer timer_("embedding_forward");
  cpu::embedding_forward(pool_, out, ids, table, n, dim);
}
template <typename T>
void CpuBackend<T>::embedding_backward(T* dtable, const T* dout, const int32_t* ids, int64_t n, int64_t dim) {
  OpTimer timer_("embedding_backward");
  cpu::embedding_backward(pool_, dtable, dout, ids, n, dim);
}
template <typename T>
void CpuBackend<T>::rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, int64_t n, int64_t dim, double eps) {
  OpTimer timer_("rmsnorm_forward");
  cpu::rmsnorm_forward(pool_, out, rstd, x, w, n, dim, eps);
}
template <typename T>
void CpuBackend<T>::rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int64_t n,
                                     int64_t dim) {
  OpTimer timer_("rmsnorm_backward");
  cpu::rmsnorm_backward(pool_, dx, dw, dout, x, w, rstd, n, dim);
}
template <typename T>
void CpuBackend<T>::rope(T* x, const int32_t* positions, const float* inv_freq, int64_t n, int64_t heads,
                         int64_t head_dim, bool inverse) {
  OpTimer timer_("rope");
  cpu::rope(pool_, x, positions, inv_freq, n, heads, head_dim, inverse);
}
template <typename T>
void CpuBackend<T>::attention_forward(T* out, T* probs, const T* q, const T* k, const T* v, const AttentionShape& s) {
  OpTimer timer_("attention_forward");
  cpu::attention_forward(pool_, out, probs, q, k, v, s);
}
template <typename T>
void CpuBackend<T>::attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* probs, const T* q, const T* k,
                                       const T* v, const AttentionShape& s) {
  OpTimer timer_("attention_backward");
  cpu::attention_backward(pool_, dq, dk, dv, dout, probs, q, k, v, s);
}
template <typename T>
void CpuBackend<T>::attention_decode(T* out, const T* q, const T* k_cache, const T* v_cache, int64_t length,
                                     int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t sliding_window) {
  OpTimer timer_("attention_decode");
  cpu::attention_decode(pool_, out, q, k_cache, v_cache, length, heads, kv_heads, head_dim, sliding_window);
}
template <typename T>
void CpuBackend<T>::swiglu_forward(T* h, const T* gate, const T* up, int64_t n) {
  OpTimer timer_("swiglu_forward");
  cpu::swiglu_forward(pool_, h, gate, up, n);
}
template <typename T>
void CpuBackend<T>::swiglu_backward(T* dgate, T* dup, const T* dh, const T* gate, const T* up, int64_t n) {
  OpTimer timer_("swiglu_backward");
  cpu::swiglu_backward(pool_, dgate, dup, dh, gate, up, n);
}
template <typename T>
void CpuBackend<T>::cross_entropy_forward(T* nll, const T* logits, const int32_t* targets, int64_t n, int64_t vocab) {
  OpTimer timer_("cross_entropy_forward");
  cpu::cross_entropy_forward(pool_, nll, logits, targets, n, vocab);
}
template <typename T>
void CpuBackend<T>::cross_entropy_backward(T* dlogits, const T* logits, const int32_t* targets, int64_t n,
                                           int64_t vocab, double scale) {
  OpTimer timer_("cross_entropy_backward");
  cpu::cross_entropy_backward(pool_, dlogits, logits, targets, n, vocab, scale);
}
template <typename T>
void CpuBackend<T>::add_inplace(T* y, const T* x, int64_t n) {
  OpTimer timer_("add_inplace");
  cpu::add_inplace(pool_, y, x, n);
}
template <typename T>
void CpuBackend<T>::scale_inplace(T* x, double factor, int64_t n) {
  OpTimer timer_("scale_inplace");
  cpu::scale_inplace(pool_, x, factor, n);
}
template <typename T>
double CpuBackend<T>::sum_squares(const T* x, int64_t n) {
  OpTimer timer_("sum_squares");
  return cpu::sum_squares(pool_, x, n);
}
template <typename T>
void CpuBackend<T>::adamw_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, const AdamWParams& h) {
  OpTimer timer_("adamw_step");
  cpu::adamw_step(pool_, param, grad, exp_avg, exp_avg_sq, n, h);
}
template <typename T>
void CpuBackend<T>::sgd_step(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdParams& h) {
  OpTimer timer_("sgd_step");
  cpu::sgd_step(pool_, param, grad, momentum_buffer, n, h);
}

template class CpuBackend<float>;
template class CpuBackend<double>;

}  // namespace tunesmith
