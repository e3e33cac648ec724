#include "train/forward_grad.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/memory.h"

namespace tunesmith {
namespace {

template <typename T>
struct JvpPass {
  Transformer<T>& model;
  const T* tangent;
  Backend<T>& b;
  int64_t n;
  TrackedBuffer<T> scratch;  // x·dWᵀ products

  const T* p(size_t offset) const { return offset == kNoParam ? nullptr : model.params() + offset; }
  const T* t(size_t offset) const { return offset == kNoParam ? nullptr : tangent + offset; }

  void linear(T* y, T* dy, const T* x, const T* dx, size_t w, size_t bias, int64_t in, int64_t out) {
    b.matmul_forward(y, x, p(w), p(bias), n, in, out);
    b.matmul_forward(dy, dx, p(w), t(bias), n, in, out);
    scratch.resize(std::max(scratch.size(), size_t(n * out)));
    b.matmul_forward(scratch.data(), x, t(w), nullptr, n, in, out);
    b.add_inplace(dy, scratch.data(), n * out);
  }

  void rmsnorm(T* y, T* dy, T* rstd, const T* x, const T* dx, size_t w, int64_t dim, double eps) {
    b.rmsnorm_forward(y, rstd, x, p(w), n, dim, eps);
    const T* wv = p(w);
    const T* dw = t(w);
    for (int64_t r = 0; r < n; ++r) {
      const T* xr = x + r * dim;
      const T* dxr = dx + r * dim;
      double dot = 0.0;
      for (int64_t j = 0; j < dim; ++j) dot += double(xr[j]) * double(dxr[j]);
      const T rs = rstd[r];
      const T dr = T(-double(rs) * double(rs) * double(rs) * dot / double(dim));
      T* out = dy + r * dim;
      for (int64_t j = 0; j < dim; ++j) out[j] = (dxr[j] * rs + xr[j] * dr) * wv[j] + xr[j] * rs * dw[j];
    }
  }
};

// Tangent of causal GQA attention given the primal probabilities.
template <typename T>
void attention_tangent(T* dout, const T* probs, const T* q, const T* k, const T* v, const T* dq, const T* dk,
                       const T* dv, const AttentionShape& s) {
  const int64_t hd = s.head_dim, group = s.heads / s.kv_heads;
  const int64_t q_stride = s.heads * hd, kv_stride = s.kv_heads * hd;
  const double scale = 1.0 / std::sqrt(double(hd));
  std::vector<double> ds(size_t(s.seq)), dp(size_t(s.seq));
  for (int64_t bt = 0; bt < s.batch; ++bt)
    for (int64_t h = 0; h < s.heads; ++h) {
      const int64_t kvh = h / group;
      for (int64_t i = 0; i < s.seq; ++i) {
        const int64_t row = bt * s.seq + i;
        const T* qi = q + row * q_stride + h * hd;
        const T* dqi = dq + row * q_stride + h * hd;
        const T* p = probs + ((bt * s.heads + h) * s.seq + i) * s.seq;
        const int64_t j0 = s.sliding_window > 0 ? std::max<int64_t>(0, i - s.sliding_window + 1) : 0;
        double mean_ds = 0.0;
        for (int64_t j = j0; j <= i; ++j) {
          const T* kj = k + (bt * s.seq + j) * kv_stride + kvh * hd;
          const T* dkj = dk + (bt * s.seq + j) * kv_stride + kvh * hd;
          double acc = 0.0;
          for (int64_t d = 0; d < hd; ++d) acc += double(dqi[d]) * double(kj[d]) + double(qi[d]) * double(dkj[d]);
          ds[size_t(j)] = acc * scale;
          mean_ds += double(p[j]) * ds[size_t(j)];
        }
        for (int64_t j = j0; j <= i; ++j) dp[size_t(j)] = double(p[j]) * (ds[size_t(j)] - mean_ds);
        T* o = dout + row * q_stride + h * hd;
        for (int64_t d = 0; d < hd; ++d) {
          double acc = 0.0;
          for (int64_t j = j0; j <= i; ++j) {
            const int64_t kv_row = (bt * s.seq + j) * kv_stride + kvh * hd;
            acc += dp[size_t(j)] * double(v[kv_row + d]) + double(p[j]) * double(dv[kv_row + d]);
          }
          o[d] = T(acc);
        }
      }
    }
}

}  // namespace

template <typename T>
JvpResult loss_jvp(Transformer<T>& model, const T* tangent, const int32_t* tokens, const int32_t* targets,
                   int64_t batch, int64_t seq) {
  const LlamaConfig& c = model.config();
  const ParameterLayout& layout = model.layout();
  if (batch <= 0 || seq <= 0) throw Error("loss_jvp: batch and seq must be positive");
  const int64_t n = batch * seq, H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= V) throw Error("loss_jvp: token id " + std::to_string(tokens[i]) + " is outside the vocabulary");
    if (targets[i] >= V) throw Error("loss_jvp: target id " + std::to_string(targets[i]) + " is outside the vocabulary");
  }
  JvpPass<T> pass{model, tangent, model.backend(), n, {}};
  Backend<T>& b = pass.b;
  const std::vector<float> inv_freq = rope_inv_freq(c);
  std::vector<int32_t> positions(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) positions[size_t(i)] = int32_t(i % seq);
  const AttentionShape shape{batch, seq, c.num_heads, c.num_kv_heads, c.head_dim, c.sliding_window};

  auto buf = [](int64_t count) { return TrackedBuffer<T>(size_t(count)); };
  TrackedBuffer<T> x = buf(n * H), dx = buf(n * H), ln = buf(n * H), dln = buf(n * H), rstd = buf(n);
  TrackedBuffer<T> q = buf(n * q_dim), dq = buf(n * q_dim), k = buf(n * kv_dim), dk = buf(n * kv_dim);
  TrackedBuffer<T> v = buf(n * kv_dim), dv = buf(n * kv_dim), att = buf(n * q_dim), datt = buf(n * q_dim);
  TrackedBuffer<T> probs = buf(batch * c.num_heads * seq * seq), mid = buf(n * H), dmid = buf(n * H);
  TrackedBuffer<T> gate = buf(n * I), dgate = buf(n * I), up = buf(n * I), dup = buf(n * I), h = buf(n * I),
                   dh = buf(n * I);

  b.embedding_forward(x.data(), tokens, pass.p(layout.embed), n, H);
  b.embedding_forward(dx.data(), tokens, pass.t(layout.embed), n, H);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LayerParamOffsets& o = layout.layers[size_t(l)];
    pass.rmsnorm(ln.data(), dln.data(), rstd.data(), x.data(), dx.data(), o.input_norm, H, c.rms_norm_eps);
    pass.linear(q.data(), dq.data(), ln.data(), dln.data(), o.q, o.q_bias, H, q_dim);
    pass.linear(k.data(), dk.data(), ln.data(), dln.data(), o.k, o.k_bias, H, kv_dim);
    pass.linear(v.data(), dv.data(), ln.data(), dln.data(), o.v, o.v_bias, H, kv_dim);
    for (T* buffer : {q.data(), dq.data()}) b.rope(buffer, positions.data(), inv_freq.data(), n, c.num_heads, c.head_dim, false);
    for (T* buffer : {k.data(), dk.data()})
      b.rope(buffer, positions.data(), inv_freq.data(), n, c.num_kv_heads, c.head_dim, false);
    b.attention_forward(att.data(), probs.data(), q.data(), k.data(), v.data(), shape);
    attention_tangent(datt.data(), probs.data(), q.data(), k.data(), v.data(), dq.data(), dk.data(), dv.data(), shape);
    pass.linear(mid.data(), dmid.data(), att.data(), datt.data(), o.o, o.o_bias, q_dim, H);
    b.add_inplace(mid.data(), x.data(), n * H);
    b.add_inplace(dmid.data(), dx.data(), n * H);
    pass.rmsnorm(ln.data(), dln.data(), rstd.data(), mid.data(), dmid.data(), o.post_norm, H, c.rms_norm_eps);
    pass.linear(gate.data(), dgate.data(), ln.data(), dln.data(), o.gate, kNoParam, H, I);
    pass.linear(up.data(), dup.data(), ln.data(), dln.data(), o.up, kNoParam, H, I);
    b.swiglu_forward(h.data(), gate.data(), up.data(), n * I);
    for (int64_t i = 0; i < n * I; ++i) {
      const T g = gate[size_t(i)], sig = T(1) / (T(1) + std::exp(-g));
      dh[size_t(i)] = sig * (T(1) + g * (T(1) - sig)) * dgate[size_t(i)] * up[size_t(i)] + g * sig * dup[size_t(i)];
    }
    pass.linear(x.data(), dx.data(), h.data(), dh.data(), o.down, kNoParam, I, H);
    b.add_inplace(x.data(), mid.data(), n * H);
    b.add_inplace(dx.data(), dmid.data(), n * H);
  }
  pass.rmsnorm(ln.data(), dln.data(), rstd.data(), x.data(), dx.data(), layout.final_norm, H, c.rms_norm_eps);
  TrackedBuffer<T> logits = buf(n * V), dlogits = buf(n * V), nll = buf(n);
  pass.linear(logits.data(), dlogits.data(), ln.data(), dln.data(), layout.lm_head, kNoParam, H, V);
  b.cross_entropy_forward(nll.data(), logits.data(), targets, n, V);

  JvpResult result;
  int64_t targeted = 0;
  for (int64_t r = 0; r < n; ++r) {
    if (targets[r] < 0) continue;
    ++targeted;
    const T* z = logits.data() + r * V;
    const T* dz = dlogits.data() + r * V;
    const double max_z = double(*std::max_element(z, z + V));
    double sum = 0.0, weighted = 0.0;
    for (int64_t j = 0; j < V; ++j) {
      const double e = std::exp(double(z[j]) - max_z);
      sum += e;
      weighted += e * double(dz[j]);
    }
    result.loss += double(nll[size_t(r)]);
    result.directional_derivative += weighted / sum - double(dz[targets[r]]);
  }
  if (targeted > 0) {
    result.loss /= double(targeted);
    result.directional_derivative /= double(targeted);
  }
  return result;
}

template JvpResult loss_jvp<float>(Transformer<float>&, const float*, const int32_t*, const int32_t*, int64_t, int64_t);
template JvpResult loss_jvp<double>(Transformer<double>&, const double*, const int32_t*, const int32_t*, int64_t,
                                    int64_t);

}  // namespace tunesmith
