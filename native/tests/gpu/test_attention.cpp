// Flash-style attention (gpu/kernels/attention.cu) against the CPU backend's plain attention
// (CpuBackend<float>, which stores the [batch, heads, seq, seq] probabilities) on the same
// bf16-rounded inputs: forward output, lse (against a float64 loop), backward dq/dk/dv, bitwise
// determinism, and decode (against the CPU decode and against the last row of the full forward).
// Shapes cover GQA and MHA, head dims 7 (odd), 8, 16, 64 and 160 (the chunked head-dim path), seq
// lengths that are not a multiple of the 32-row tile, and sliding windows (inside a tile, across
// tiles, longer than the sequence).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "cpu/cpu_backend.h"
#include "gpu/device_memory.h"
#include "gpu/ops.h"
#include "gpu_test.h"

using namespace tunesmith;
using namespace tunesmith::gpu;
using tunesmith_test::check;
using tunesmith_test::to_bf16;
using tunesmith_test::to_float;
using tunesmith_test::upload_bf16;
using tunesmith_test::fmt;

namespace {

// Random values already rounded to bf16, so the CPU reference sees exactly the GPU's inputs.
std::vector<float> random_bf16_floats(Rng& rng, size_t n, float std) {
  std::vector<float> v(n);
  for (float& x : v) x = bf16_to_float(float_to_bf16(float(rng.normal()) * std));
  return v;
}
// max |got − ref| / max |ref|: the error relative to the tensor's scale (elementwise relative
// error is meaningless for gradients that cancel to ~0).
double rel_err(const std::vector<float>& got, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double diff = std::fabs(double(got[i]) - double(ref[i]));
    num = std::isnan(diff) ? INFINITY : std::max(num, diff);
    den = std::max(den, std::fabs(double(ref[i])));
  }
  return num / std::max(den, 1e-30);
}
template <typename T>
bool bit_equal(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}
// Fills a buffer with NaN bits, so an output that is not fully overwritten shows up.
void poison(DeviceBuffer<bf16>& d) {
  std::vector<bf16> h(d.size());
  for (bf16& x : h) x.bits = 0x7fc0;
  d.upload(h.data(), h.size());
}

struct Case {
  int64_t batch, seq, heads, kv_heads, head_dim, window;
};
std::string name_of(const Case& c) {
  return "b" + std::to_string(c.batch) + " s" + std::to_string(c.seq) + " h" + std::to_string(c.heads) + " kv" +
         std::to_string(c.kv_heads) + " hd" + std::to_string(c.head_dim) + " w" + std::to_string(c.window);
}

// lse[b, h, i] in float64 from the same bf16 inputs.
std::vector<double> reference_lse(const Case& c, const std::vector<float>& q, const std::vector<float>& k) {
  const int64_t hd = c.head_dim, group = c.heads / c.kv_heads;
  const double scale = 1.0 / std::sqrt(double(hd));
  std::vector<double> lse(size_t(c.batch * c.heads * c.seq));
  std::vector<double> s(size_t(c.seq));
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t h = 0; h < c.heads; ++h)
      for (int64_t i = 0; i < c.seq; ++i) {
        const int64_t j0 = c.window > 0 ? std::max<int64_t>(0, i - c.window + 1) : 0;
        double mx = -INFINITY;
        for (int64_t j = j0; j <= i; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < hd; ++d)
            dot += double(q[size_t(((b * c.seq + i) * c.heads + h) * hd + d)]) *
                   double(k[size_t(((b * c.seq + j) * c.kv_heads + h / group) * hd + d)]);
          s[size_t(j)] = dot * scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        double sum = 0;
        for (int64_t j = j0; j <= i; ++j) sum += std::exp(s[size_t(j)] - mx);
        lse[size_t((b * c.heads + h) * c.seq + i)] = mx + std::log(sum);
      }
  return lse;
}

struct GpuResult {
  std::vector<bf16> out, dq, dk, dv;
  std::vector<float> lse;
};

GpuResult run_gpu(const Case& c, const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                  const std::vector<float>& dout) {
  AttentionDims d;
  d.batch = c.batch;
  d.seq = c.seq;
  d.heads = c.heads;
  d.kv_heads = c.kv_heads;
  d.head_dim = c.head_dim;
  d.sliding_window = c.window;
  const size_t nq = size_t(c.batch * c.seq * c.heads * c.head_dim), nkv = size_t(c.batch * c.seq * c.kv_heads * c.head_dim);
  DeviceBuffer<bf16> dq_in = upload_bf16(q, "q"), dk_in = upload_bf16(k, "k"), dv_in = upload_bf16(v, "v"),
                     ddout = upload_bf16(dout, "dout");
  DeviceBuffer<bf16> out(nq, "out"), dq(nq, "dq"), dk(nkv, "dk"), dv(nkv, "dv");
  DeviceBuffer<float> lse(size_t(c.batch * c.heads * c.seq), "lse");
  poison(out);
  poison(dq);
  poison(dk);
  poison(dv);
  attention_forward(out.data(), lse.data(), dq_in.data(), dk_in.data(), dv_in.data(), d);
  attention_backward(dq.data(), dk.data(), dv.data(), ddout.data(), out.data(), lse.data(), dq_in.data(), dk_in.data(),
                     dv_in.data(), d);
  GpuResult r;
  r.out = out.download();
  r.lse = lse.download();
  r.dq = dq.download();
  r.dk = dk.download();
  r.dv = dv.download();
  return r;
}

void run_case(const Case& c, uint64_t seed) {
  const std::string tag = "attention " + name_of(c);
  Rng rng(seed);
  const size_t nq = size_t(c.batch * c.seq * c.heads * c.head_dim), nkv = size_t(c.batch * c.seq * c.kv_heads * c.head_dim);
  // q, k with std 1.5: scores of std ~2 after the 1/√d scale, so the softmax is far from uniform.
  const std::vector<float> q = random_bf16_floats(rng, nq, 1.5f), k = random_bf16_floats(rng, nkv, 1.5f),
                           v = random_bf16_floats(rng, nkv, 1.0f), dout = random_bf16_floats(rng, nq, 1.0f);

  AttentionShape s;
  s.batch = c.batch;
  s.seq = c.seq;
  s.heads = c.heads;
  s.kv_heads = c.kv_heads;
  s.head_dim = c.head_dim;
  s.sliding_window = c.window;
  CpuBackend<float> cpu(1);
  std::vector<float> out_ref(nq), probs(size_t(c.batch * c.heads * c.seq * c.seq)), dq_ref(nq), dk_ref(nkv), dv_ref(nkv);
  cpu.attention_forward(out_ref.data(), probs.data(), q.data(), k.data(), v.data(), s);
  cpu.attention_backward(dq_ref.data(), dk_ref.data(), dv_ref.data(), dout.data(), probs.data(), q.data(), k.data(),
                         v.data(), s);

  const GpuResult r = run_gpu(c, q, k, v, dout);

  // Output: fp32 accumulation like the CPU, then one bf16 rounding (≤ 2^-9 ≈ 2e-3 of the value,
  // so ≤ 2e-3 of the tensor's max); 1e-2 leaves room for fp32 order differences and exp.
  const double e_out = rel_err(to_float(r.out), out_ref);
  check(e_out < 1e-2, tag + " forward out vs CPU backend", "rel err " + fmt(e_out));

  // lse: fp32 online softmax vs a float64 loop on the same inputs; fp32 rounding of the scores,
  // exp and log is ~1e-7 relative per step over ≤ 70 keys, so 1e-5 relative is generous.
  const std::vector<double> lse_ref = reference_lse(c, q, k);
  double e_lse = 0;
  for (size_t i = 0; i < lse_ref.size(); ++i)
    e_lse = std::max(e_lse, std::fabs(double(r.lse[i]) - lse_ref[i]) / std::max(1.0, std::fabs(lse_ref[i])));
  if (std::any_of(r.lse.begin(), r.lse.end(), [](float x) { return !std::isfinite(x); })) e_lse = INFINITY;
  check(e_lse < 1e-5, tag + " forward lse vs float64", "max rel err " + fmt(e_lse));

  // Gradients: the GPU's D = Σ dO·O uses the bf16-rounded O (the CPU uses Σ P·dP in fp32), so
  // dS = P(dP − D) carries that 2^-9 relative error of O, amplified where dP − D cancels; plus the
  // final bf16 rounding of dq/dk/dv (2^-9). 2e-2 of the tensor's scale covers both with margin.
  const double e_dq = rel_err(to_float(r.dq), dq_ref), e_dk = rel_err(to_float(r.dk), dk_ref),
               e_dv = rel_err(to_float(r.dv), dv_ref);
  check(e_dq < 2e-2, tag + " backward dq vs CPU backend", "rel err " + fmt(e_dq));
  check(e_dk < 2e-2, tag + " backward dk vs CPU backend", "rel err " + fmt(e_dk));
  check(e_dv < 2e-2, tag + " backward dv vs CPU backend", "rel err " + fmt(e_dv));

  // Determinism: a second run (fresh buffers) is bit-identical.
  const GpuResult r2 = run_gpu(c, q, k, v, dout);
  check(bit_equal(r.out, r2.out) && bit_equal(r.lse, r2.lse) && bit_equal(r.dq, r2.dq) && bit_equal(r.dk, r2.dk) &&
            bit_equal(r.dv, r2.dv),
        tag + " deterministic (two runs bit-identical)");
}

const Case kCases[] = {
    {2, 37, 4, 2, 8, 0},    // GQA, seq not a tile multiple
    {2, 37, 4, 4, 64, 5},   // MHA, window inside a tile
    {2, 37, 4, 2, 64, 0},   // GQA, Llama-like head dim (smaller)
    {1, 37, 4, 2, 8, 5},    // GQA + window
    {1, 70, 2, 1, 16, 20},  // three tiles; the window crosses tiles and skips whole ones
    {1, 40, 2, 1, 8, 2},    // window 2: key 31 is seen by query 32 only (tile-edge bounds)
    {1, 40, 2, 1, 160, 0},  // head dim above 128: the backward's chunked head-dim path
    {1, 33, 2, 2, 7, 40},   // odd head dim, window longer than the sequence
};

}  // namespace

GPU_TEST(attention_forward_backward) {
  const auto start = std::chrono::steady_clock::now();
  uint64_t seed = 100;
  for (const Case& c : kCases) run_case(c, seed++);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  attention forward/backward cases: %.2f s\n", seconds);
}

// Larger shapes on a card only (the emulator is too slow): Llama-like head dim 128, long sequence.
GPU_TEST(attention_forward_backward_large) {
  if (tunesmith_test::gpu_emulated()) {
    tunesmith_test::skip("attention large shapes", "card build only");
    return;
  }
  run_case({2, 300, 8, 2, 128, 0}, 7);
  run_case({1, 257, 4, 4, 256, 100}, 8);
}

GPU_TEST(attention_decode_matches) {
  struct DecodeCase {
    int64_t length, heads, kv_heads, head_dim, window;
  };
  const DecodeCase cases[] = {{37, 4, 2, 64, 0}, {37, 4, 2, 64, 5}, {21, 2, 2, 8, 0}, {45, 2, 1, 160, 9}, {1, 2, 1, 16, 0}};
  uint64_t seed = 300;
  for (const DecodeCase& dc : cases) {
    const std::string tag = "attention decode len" + std::to_string(dc.length) + " h" + std::to_string(dc.heads) + " kv" +
                            std::to_string(dc.kv_heads) + " hd" + std::to_string(dc.head_dim) + " w" +
                            std::to_string(dc.window);
    Rng rng(seed++);
    const size_t nq = size_t(dc.length * dc.heads * dc.head_dim), nkv = size_t(dc.length * dc.kv_heads * dc.head_dim);
    const std::vector<float> q = random_bf16_floats(rng, nq, 1.5f), k = random_bf16_floats(rng, nkv, 1.5f),
                             v = random_bf16_floats(rng, nkv, 1.0f);
    const size_t row = size_t(dc.heads * dc.head_dim);
    const std::vector<float> q_last(q.end() - std::ptrdiff_t(row), q.end());

    CpuBackend<float> cpu(1);
    std::vector<float> ref(row);
    cpu.attention_decode(ref.data(), q_last.data(), k.data(), v.data(), dc.length, dc.heads, dc.kv_heads, dc.head_dim,
                         dc.window);

    DeviceBuffer<bf16> dq_last = upload_bf16(q_last, "q"), dk = upload_bf16(k, "k"), dv = upload_bf16(v, "v");
    DeviceBuffer<bf16> dout(row, "out");
    poison(dout);
    attention_decode(dout.data(), dq_last.data(), dk.data(), dv.data(), dc.length, dc.heads, dc.kv_heads, dc.head_dim,
                     dc.window);
    const std::vector<float> got = to_float(dout.download());
    // One bf16 rounding of an fp32 result (≤ 2^-9 of the value): 1e-2 of the tensor's scale.
    const double e = rel_err(got, ref);
    check(e < 1e-2, tag + " vs CPU backend decode", "rel err " + fmt(e));

    // The same query as the last row of a full forward over the cache: both are fp32 online
    // softmaxes rounded once to bf16, in different summation orders, so they agree to one bf16
    // rounding step: ≤ 2^-8 of the tensor's scale.
    AttentionDims d;
    d.seq = dc.length;
    d.heads = dc.heads;
    d.kv_heads = dc.kv_heads;
    d.head_dim = dc.head_dim;
    d.sliding_window = dc.window;
    DeviceBuffer<bf16> dq_all = upload_bf16(q, "q all"), full(nq, "full out");
    DeviceBuffer<float> lse(size_t(dc.heads * dc.length), "lse");
    attention_forward(full.data(), lse.data(), dq_all.data(), dk.data(), dv.data(), d);
    const std::vector<float> full_out = to_float(full.download());
    const std::vector<float> last_row(full_out.end() - std::ptrdiff_t(row), full_out.end());
    const double e_row = rel_err(got, last_row);
    check(e_row <= 1.0 / 256, tag + " vs last row of the full forward", "rel err " + fmt(e_row));
  }
}

GPU_TEST(attention_rejects_bad_shapes) {
  AttentionDims d;
  d.heads = 3;
  d.kv_heads = 2;
  bool threw = false;
  try {
    attention_forward(nullptr, nullptr, nullptr, nullptr, nullptr, d);
  } catch (const Error&) {
    threw = true;
  }
  check(threw, "attention: heads not a multiple of kv_heads is an error");
  d.heads = 2;
  d.head_dim = 257;
  threw = false;
  try {
    attention_forward(nullptr, nullptr, nullptr, nullptr, nullptr, d);
  } catch (const Error&) {
    threw = true;
  }
  check(threw, "attention: head_dim above 256 is an error");
}
