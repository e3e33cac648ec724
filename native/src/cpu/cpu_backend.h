// The CPU reference backend: core/backend.h implemented with the kernels in cpu/ops.h on a thread
// pool. Not thread-safe: one backend instance serves one model at a time (it owns scratch space).
#pragma once
#include <memory>
#include <vector>

#include "core/backend.h"
#include "cpu/thread_pool.h"

namespace tunesmith {

template <typename T>
class CpuBackend final : public Backend<T> {
 public:
  // threads <= 0: std::thread::hardware_concurrency().
  explicit CpuBackend(int threads = 0);
  const char* name() const override { return "cpu"; }
  int threads() const { return pool_.size(); }
  ThreadPool& pool() { return pool_; }

  void matmul_forward(T* y, const T* x, const T* w, const T* bias, int64_t n, int64_t in, int64_t out) override;
  void matmul_backward_input(T* dx, const T* dy, const T* w, int64_t n, int64_t in, int64_t out,
                             bool accumulate) override;
  void matmul_backward_weight(T* dw, T* dbias, const T* dy, const T* x, int64_t n, int64_t in, int64_t out) override;
  void embedding_forward(T* out, const int32_t* ids, const T* table, int64_t n, int64_t dim) override;
  void embedding_backward(T* dtable, const T* dout, const int32_t* ids, int64_t n, int64_t dim) override;
  void rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, int64_t n, int64_t dim, double eps) override;
  void rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int64_t n,
                        int64_t dim) override;
  void rope(T* x, const int32_t* positions, const float* inv_freq, int64_t n, int64_t heads, int64_t head_dim,
            bool inverse) override;
  void attention_forward(T* out, T* probs, const T* q, const T* k, const T* v, const AttentionShape& s) override;
  void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* probs, const T* q, const T* k, const T* v,
                          const AttentionShape& s) override;
  void attention_decode(T* out, const T* q, const T* k_cache, const T* v_cache, int64_t length, int64_t heads,
                        int64_t kv_heads, int64_t head_dim, int64_t sliding_window) override;
  void swiglu_forward(T* h, const T* gate, const T* up, int64_t n) override;
  void swiglu_backward(T* dgate, T* dup, const T* dh, const T* gate, const T* up, int64_t n) override;
  void cross_entropy_forward(T* nll, const T* logits, const int32_t* targets, int64_t n, int64_t vocab) override;
  void cross_entropy_backward(T* dlogits, const T* logits, const int32_t* targets, int64_t n, int64_t vocab,
                              double scale) override;
  void add_inplace(T* y, const T* x, int64_t n) override;
  void scale_inplace(T* x, double factor, int64_t n) override;
  double sum_squares(const T* x, int64_t n) override;
  void adamw_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, const AdamWParams& h) override;
  void sgd_step(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdParams& h) override;

 private:
  ThreadPool pool_;
};

}  // namespace tunesmith
