// Every CPU op's backward against central finite differences in float64 on tiny random shapes,
// plus the fp32 matmul kernel against a naive float64 product on awkward shapes.
#include <array>
#include <atomic>
#include <functional>
#include <vector>

#include "check.h"
#include "core/rng.h"
#include "cpu/cpu_backend.h"
#include "cpu/ops.h"

using namespace tunesmith;
using tunesmith_test::check;
using tunesmith_test::fmt;
using tunesmith_test::relative_error;

namespace {

std::vector<double> random_vector(Rng& rng, size_t n, double scale = 1.0) {
  std::vector<double> v(n);
  for (double& x : v) x = rng.normal() * scale;
  return v;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Checks analytic gradient `grad` of scalar loss() w.r.t. `input` by central differences.
void check_gradient(const std::string& name, std::vector<double>& input, const std::vector<double>& grad,
                    const std::function<double()>& loss, double tolerance = 1e-7) {
  std::vector<double> numeric(input.size());
  const double h = 1e-5;
  for (size_t i = 0; i < input.size(); ++i) {
    const double saved = input[i];
    input[i] = saved + h;
    const double up = loss();
    input[i] = saved - h;
    const double down = loss();
    input[i] = saved;
    numeric[i] = (up - down) / (2 * h);
  }
  const double err = relative_error(grad.data(), numeric.data(), grad.size());
  check(err < tolerance, "gradcheck " + name, "rel err " + fmt(err));
}

}  // namespace

int main() {
  CpuBackend<double> be(2);
  Rng rng(1234);

  {  // matmul with bias
    const int64_t n = 5, in = 7, out = 6;
    auto x = random_vector(rng, n * in), w = random_vector(rng, out * in), bias = random_vector(rng, out);
    auto r = random_vector(rng, n * out);
    std::vector<double> y(n * out);
    auto loss = [&] {
      be.matmul_forward(y.data(), x.data(), w.data(), bias.data(), n, in, out);
      return dot(y, r);
    };
    std::vector<double> dx(n * in), dw(out * in, 0.0), db(out, 0.0);
    be.matmul_backward_input(dx.data(), r.data(), w.data(), n, in, out, false);
    be.matmul_backward_weight(dw.data(), db.data(), r.data(), x.data(), n, in, out);
    check_gradient("matmul dx", x, dx, loss);
    check_gradient("matmul dW", w, dw, loss);
    check_gradient("matmul dbias", bias, db, loss);
  }
  {  // embedding (repeated ids exercise the accumulation)
    const int64_t vocab = 6, dim = 4, n = 7;
    std::vector<int32_t> ids = {1, 3, 1, 0, 5, 3, 1};
    auto table = random_vector(rng, vocab * dim), r = random_vector(rng, n * dim);
    std::vector<double> out(n * dim), dtable(vocab * dim, 0.0);
    auto loss = [&] {
      be.embedding_forward(out.data(), ids.data(), table.data(), n, dim);
      return dot(out, r);
    };
    be.embedding_backward(dtable.data(), r.data(), ids.data(), n, dim);
    check_gradient("embedding dtable", table, dtable, loss);
  }
  {  // rmsnorm
    const int64_t n = 4, dim = 9;
    auto x = random_vector(rng, n * dim), w = random_vector(rng, dim), r = random_vector(rng, n * dim);
    std::vector<double> out(n * dim), rstd(n), dx(n * dim, 0.0), dw(dim, 0.0);
    auto loss = [&] {
      be.rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), n, dim, 1e-5);
      return dot(out, r);
    };
    loss();
    be.rmsnorm_backward(dx.data(), dw.data(), r.data(), x.data(), w.data(), rstd.data(), n, dim);
    check_gradient("rmsnorm dx", x, dx, loss);
    check_gradient("rmsnorm dw", w, dw, loss);
  }
  {  // rope
    const int64_t n = 5, heads = 3, hd = 8;
    std::vector<int32_t> pos = {0, 1, 2, 7, 100};
    std::vector<float> inv_freq = {1.0f, 0.3f, 0.05f, 0.001f};
    auto x = random_vector(rng, n * heads * hd), r = random_vector(rng, n * heads * hd);
    auto loss = [&] {
      std::vector<double> y = x;
      be.rope(y.data(), pos.data(), inv_freq.data(), n, heads, hd, false);
      return dot(y, r);
    };
    std::vector<double> dx = r;
    be.rope(dx.data(), pos.data(), inv_freq.data(), n, heads, hd, true);
    check_gradient("rope dx", x, dx, loss);
    // rotate_half convention: position 1, one frequency, pair (0, hd/2).
    std::vector<double> v(hd, 0.0);
    v[0] = 1.0;
    int32_t one = 1;
    std::vector<float> f1 = {1.0f, 0.0f, 0.0f, 0.0f};
    be.rope(v.data(), &one, f1.data(), 1, 1, hd, false);
    check(std::fabs(v[0] - std::cos(1.0)) < 1e-7 && std::fabs(v[4] - std::sin(1.0)) < 1e-7,
          "rope pairs (j, j+d/2) as HF rotate_half");
  }
  for (int64_t window : {int64_t(0), int64_t(3)}) {  // attention with GQA (4 query heads, 2 kv heads)
    AttentionShape s{2, 5, 4, 2, 3, window};
    const int64_t n = s.batch * s.seq;
    auto q = random_vector(rng, n * s.heads * s.head_dim), k = random_vector(rng, n * s.kv_heads * s.head_dim);
    auto v = random_vector(rng, n * s.kv_heads * s.head_dim), r = random_vector(rng, n * s.heads * s.head_dim);
    std::vector<double> out(q.size()), probs(s.batch * s.heads * s.seq * s.seq);
    auto loss = [&] {
      be.attention_forward(out.data(), probs.data(), q.data(), k.data(), v.data(), s);
      return dot(out, r);
    };
    loss();
    std::vector<double> dq(q.size()), dk(k.size()), dv(v.size());
    be.attention_backward(dq.data(), dk.data(), dv.data(), r.data(), probs.data(), q.data(), k.data(), v.data(), s);
    const std::string tag = window ? " (sliding window 3)" : "";
    check_gradient("attention dq" + tag, q, dq, loss);
    check_gradient("attention dk" + tag, k, dk, loss);
    check_gradient("attention dv" + tag, v, dv, loss);
    // Decode against the cache equals the last row of the full forward.
    loss();
    std::vector<double> dec(s.heads * s.head_dim);
    be.attention_decode(dec.data(), q.data() + (s.seq - 1) * s.heads * s.head_dim, k.data(), v.data(), s.seq, s.heads,
                        s.kv_heads, s.head_dim, window);
    const double err = relative_error(dec.data(), out.data() + (s.seq - 1) * s.heads * s.head_dim, dec.size());
    check(err < 1e-12, "attention decode == last row of full attention" + tag, "rel err " + fmt(err));
  }
  {  // swiglu
    const int64_t n = 11;
    auto gate = random_vector(rng, n, 2.0), up = random_vector(rng, n), r = random_vector(rng, n);
    std::vector<double> h(n), dg(n), du(n);
    auto loss = [&] {
      be.swiglu_forward(h.data(), gate.data(), up.data(), n);
      return dot(h, r);
    };
    be.swiglu_backward(dg.data(), du.data(), r.data(), gate.data(), up.data(), n);
    check_gradient("swiglu dgate", gate, dg, loss);
    check_gradient("swiglu dup", up, du, loss);
  }
  {  // cross-entropy with an ignored row
    const int64_t n = 4, vocab = 7;
    std::vector<int32_t> targets = {2, -1, 6, 0};
    auto logits = random_vector(rng, n * vocab, 3.0);
    std::vector<double> nll(n);
    auto loss = [&] {
      be.cross_entropy_forward(nll.data(), logits.data(), targets.data(), n, vocab);
      double s = 0;
      for (double v : nll) s += v;
      return s / 3.0;
    };
    std::vector<double> dlogits(n * vocab);
    be.cross_entropy_backward(dlogits.data(), logits.data(), targets.data(), n, vocab, 1.0 / 3.0);
    check_gradient("cross-entropy dlogits (masked row)", logits, dlogits, loss);
  }

  {  // thread pool: every index runs exactly once, back-to-back jobs of varied size, 2-5 threads
    bool ok = true;
    for (int threads : {2, 3, 5}) {
      ThreadPool pool(threads);
      std::vector<std::atomic<int>> hits(4096);
      for (int job = 0; job < 3000 && ok; ++job) {
        const int64_t n = 1 + int64_t(rng.next_u64() % (job % 3 == 0 ? 4000 : 70));
        for (int64_t i = 0; i < n; ++i) hits[size_t(i)].store(0);
        pool.parallel_for(n, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) hits[size_t(i)].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) ok = ok && hits[size_t(i)].load() == 1;
      }
    }
    check(ok, "thread pool runs every index exactly once", "");
  }

  {  // fp32 gemm kernel against a float64 naive product, awkward shapes, accumulate on and off
    CpuBackend<float> fb(2);
    bool all_ok = true;
    double worst = 0;
    for (auto shape : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {3, 17, 5}, {70, 300, 33}, {130, 37, 520}, {5, 513, 2}}) {
      const int64_t m = shape[0], k = shape[1], n = shape[2];
      std::vector<float> a(m * k), b(k * n), c(m * n);
      for (float& v : a) v = float(rng.normal());
      for (float& v : b) v = float(rng.normal());
      for (float& v : c) v = float(rng.normal());
      for (bool accumulate : {false, true}) {
        std::vector<float> got = c;
        cpu::gemm(fb.pool(), a.data(), k, b.data(), n, got.data(), n, m, n, k, accumulate);
        std::vector<double> want(m * n);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double s = accumulate ? c[i * n + j] : 0.0;
            for (int64_t p = 0; p < k; ++p) s += double(a[i * k + p]) * b[p * n + j];
            want[i * n + j] = s;
          }
        const double err = relative_error(got.data(), want.data(), got.size());
        worst = std::max(worst, err);
        all_ok = all_ok && err < 1e-6;
      }
    }
    check(all_ok, "fp32 gemm kernel vs float64 product", "worst rel err " + fmt(worst));
    // op(A)·op(B) with A stored [k, m] and/or B stored [n, k], on the pool and on the calling thread.
    all_ok = true;
    worst = 0;
    for (auto shape : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {7, 17, 5}, {70, 300, 33}, {131, 37, 520}, {5, 513, 2}}) {
      const int64_t m = shape[0], k = shape[1], n = shape[2];
      std::vector<float> a(m * k), b(n * k), c(m * n);
      for (float& v : a) v = float(rng.normal());
      for (float& v : b) v = float(rng.normal());
      for (float& v : c) v = float(rng.normal());
      for (int layout = 1; layout < 4; ++layout)
        for (bool accumulate : {false, true})
        for (bool pooled : {false, true}) {
          const bool at = layout & 2, bt = layout & 1;
          std::vector<float> got = c;
          cpu::gemm_ex(pooled ? &fb.pool() : nullptr, a.data(), at ? m : k, at, b.data(), bt ? k : n, bt, got.data(), n,
                       m, n, k, accumulate);
          std::vector<double> want(m * n);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              double s = accumulate ? c[i * n + j] : 0.0;
              for (int64_t p = 0; p < k; ++p)
                s += double(at ? a[p * m + i] : a[i * k + p]) * (bt ? b[j * k + p] : b[p * n + j]);
              want[i * n + j] = s;
            }
          const double err = relative_error(got.data(), want.data(), got.size());
          worst = std::max(worst, err);
          all_ok = all_ok && err < 1e-6;
        }
    }
    check(all_ok, "fp32 gemm Aᵀ·B, A·Bᵀ, Aᵀ·Bᵀ vs float64 product", "worst rel err " + fmt(worst));
    // And the linear-layer forms on float, including the decode (n <= 2) path.
    for (int64_t n : {int64_t(1), int64_t(9)}) {
      const int64_t in = 19, out = 23;
      std::vector<float> x(n * in), w(out * in), bias(out), y(n * out);
      for (float& v : x) v = float(rng.normal());
      for (float& v : w) v = float(rng.normal());
      for (float& v : bias) v = float(rng.normal());
      fb.matmul_forward(y.data(), x.data(), w.data(), bias.data(), n, in, out);
      std::vector<double> want(n * out);
      for (int64_t t = 0; t < n; ++t)
        for (int64_t o = 0; o < out; ++o) {
          double s = bias[o];
          for (int64_t i = 0; i < in; ++i) s += double(x[t * in + i]) * w[o * in + i];
          want[t * out + o] = s;
        }
      const double err = relative_error(y.data(), want.data(), y.size());
      check(err < 1e-6, "fp32 linear forward n=" + std::to_string(n), "rel err " + fmt(err));
    }
  }
  return tunesmith_test::finish("test_ops");
}
