// Parity of the basic GPU ops (gpu/ops.h: elementwise, embedding, RMSNorm, RoPE, SwiGLU,
// cross-entropy) with the CPU backend (CpuBackend<float>) or a float64 host loop, fed the SAME
// bf16-rounded inputs, so only the op's own rounding differs.
//
// Tolerances. bf16 keeps 8 significant bits: rounding to nearest is off by at most half an ulp,
// ≤ 2^-8 of the value (unit roundoff u = 2^-8). An fp32 result that differs from the reference by
// fp32 noise (~1e-6 relative) can straddle a bf16 rounding boundary, so "one rounding" is checked
// per element as |got − ref| ≤ (2^-8 + 1e-5)·|ref| + floor, ref being the unrounded reference.
// fp32 accumulations (sums over ≤ a few thousand terms) are checked at ~1e-5 relative.
//
// Shapes are small in the emulator (it runs every CUDA thread as a fiber); the card build adds
// full-size cases.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/rng.h"
#include "cpu/cpu_backend.h"
#include "gpu/device_memory.h"
#include "gpu/ops.h"
#include "gpu/philox.h"
#include "gpu_test.h"

using namespace tunesmith;
using namespace tunesmith::gpu;
using tunesmith_test::check;
using tunesmith_test::round_bf16;
using tunesmith_test::upload_bf16;
using tunesmith_test::download_bf16;
using tunesmith_test::fmt;
using tunesmith_test::gpu_emulated;

namespace {

constexpr double kBf16Rounding = 1.0 / 256.0;  // 2^-8: one round-to-nearest to bf16, relative

std::vector<float> random_normal(Rng& rng, size_t n, double stddev = 1.0, bool bf16_round = true) {
  std::vector<float> v(n);
  for (float& x : v) {
    x = float(rng.normal() * stddev);
    if (bf16_round) x = round_bf16(x);
  }
  return v;
}


template <typename T>
DeviceBuffer<T> upload(const std::vector<T>& v, const char* what) {
  DeviceBuffer<T> d(v.size(), what);
  d.upload(v.data(), v.size());
  return d;
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Per element: |got − ref| ≤ rel·|ref| + abs. Reports the worst ratio (≤ 1 passes) and the
// norm-wise relative error.
void check_close(const std::string& name, const std::vector<float>& got, const std::vector<double>& ref, double rel,
                 double abs) {
  double worst = 0.0;
  size_t worst_i = 0;
  bool finite = got.size() == ref.size();
  for (size_t i = 0; i < got.size() && finite; ++i) {
    if (!std::isfinite(got[i])) finite = false;
    const double ratio = std::fabs(double(got[i]) - ref[i]) / (rel * std::fabs(ref[i]) + abs);
    if (ratio > worst) {
      worst = ratio;
      worst_i = i;
    }
  }
  const double norm_rel = tunesmith_test::relative_error(got.data(), ref.data(), std::min(got.size(), ref.size()));
  check(finite && worst <= 1.0, name,
        "worst " + fmt(worst) + " of tolerance at " + std::to_string(worst_i) + " (got " + fmt(got.empty() ? 0.0 : double(got[worst_i])) + " want " + fmt(ref.empty() ? 0.0 : ref[worst_i]) + "), norm-wise rel err " + fmt(norm_rel));
}

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// Per element within `ulps` bf16 ulps of a bf16 reference; returns how many differ at all.
size_t check_bf16_ulps(const std::string& name, const std::vector<float>& got, const std::vector<float>& ref,
                       int ulps) {
  size_t differ = 0;
  int worst = 0;
  bool ok = got.size() == ref.size();
  for (size_t i = 0; i < got.size() && ok; ++i) {
    const int a = int(float_to_bf16(got[i]).bits), b = int(float_to_bf16(ref[i]).bits);
    if (a == b) continue;
    ++differ;
    // Same sign: the distance in representable values is the difference of the bit patterns.
    const bool same_sign = ((a ^ b) & 0x8000) == 0;
    const int d = same_sign ? std::abs(a - b) : (a & 0x7fff) + (b & 0x7fff);
    worst = std::max(worst, d);
  }
  check(ok && worst <= ulps, name,
        std::to_string(differ) + " of " + std::to_string(ref.size()) + " differ, worst " + std::to_string(worst) +
            " ulp");
  return differ;
}

}  // namespace

// --- conversions and elementwise ------------------------------------------------------------

GPU_TEST(kernels_conversions) {
  Rng rng(11);
  const int64_t n = 1000 + 3;
  std::vector<float> x = random_normal(rng, size_t(n), 10.0, false);
  // Special values: NaN, ±inf, ±0, a denormal, the largest float, and exact ties (round to even).
  const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, 3.4e38f,
                            bits_float(0x3f808000u), bits_float(0x3f818000u), bits_float(0x3f80ffffu)};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; ++i) x[i * 7] = specials[i];
  DeviceBuffer<float> dx = upload(x, "x");
  DeviceBuffer<bf16> dy(size_t(n), "y");
  convert_f32_to_bf16(dy.data(), dx.data(), n);
  const std::vector<bf16> y = dy.download();
  std::vector<bf16> ref(static_cast<size_t>(n));
  for (size_t i = 0; i < ref.size(); ++i) ref[i] = float_to_bf16(x[i]);
  check(same_bits(y, ref), "convert_f32_to_bf16 gives the host's bits (round to nearest even, NaN, inf, ties)");

  DeviceBuffer<float> back(size_t(n), "back");
  convert_bf16_to_f32(back.data(), dy.data(), n);
  std::vector<float> back_ref(static_cast<size_t>(n));
  for (size_t i = 0; i < back_ref.size(); ++i) back_ref[i] = bf16_to_float(ref[i]);
  check(same_bits(back.download(), back_ref), "convert_bf16_to_f32 is exact");
}

GPU_TEST(kernels_add_scale) {
  Rng rng(12);
  CpuBackend<float> cpu(2);
  const int64_t n = 1000 + 3;
  const std::vector<float> x = random_normal(rng, size_t(n), 1.0, false), y0 = random_normal(rng, size_t(n), 1.0, false);
  // add_f32 and scale_f32: one IEEE operation per element, so bit-identical to the CPU backend.
  DeviceBuffer<float> dx = upload(x, "x"), dy = upload(y0, "y");
  add_f32(dy.data(), dx.data(), n);
  std::vector<float> ref = y0;
  cpu.add_inplace(ref.data(), x.data(), n);
  check(same_bits(dy.download(), ref), "add_f32 matches the CPU backend bit for bit");
  scale_f32(dy.data(), 0.37f, n);
  cpu.scale_inplace(ref.data(), 0.37f, n);
  check(same_bits(dy.download(), ref), "scale_f32 matches the CPU backend bit for bit");

  // add_bf16: fp32 sum of the bf16 values, rounded once; the host does the same arithmetic.
  const std::vector<float> a = random_normal(rng, size_t(n)), b = random_normal(rng, size_t(n));
  DeviceBuffer<bf16> da = upload_bf16(a, "a"), db = upload_bf16(b, "b");
  add_bf16(da.data(), db.data(), n);
  std::vector<float> sum_ref(static_cast<size_t>(n));
  for (size_t i = 0; i < sum_ref.size(); ++i) sum_ref[i] = round_bf16(a[i] + b[i]);
  check(same_bits(download_bf16(da), sum_ref), "add_bf16 = bf16(a + b) bit for bit");
}

GPU_TEST(kernels_sum_squares) {
  Rng rng(13);
  CpuBackend<float> cpu(2);
  check(sum_squares_f32(nullptr, 0) == 0.0, "sum_squares of nothing is 0");
  const int64_t sizes[] = {1, 1000 + 3, gpu_emulated() ? 300007 : 50000017};
  for (int64_t n : sizes) {
    const std::vector<float> x = random_normal(rng, size_t(n), 1.0, false);
    DeviceBuffer<float> dx = upload(x, "x");
    const double got = sum_squares_f32(dx.data(), n), again = sum_squares_f32(dx.data(), n);
    const double ref = cpu.sum_squares(x.data(), n);
    // Squares of floats are exact in double and the sum is in double: only double rounding
    // (~n · 1e-16 relative) separates the two orders.
    const double rel = std::fabs(got - ref) / ref;
    check(rel < 1e-12, "sum_squares n=" + std::to_string(n) + " matches the CPU backend", "rel err " + fmt(rel));
    check(std::memcmp(&got, &again, sizeof got) == 0, "sum_squares n=" + std::to_string(n) + " is deterministic");
  }
}

GPU_TEST(kernels_bias) {
  Rng rng(14);
  // Odd sizes: 53 rows (not a multiple of the 8 row groups), 67 columns (not a multiple of 32).
  const int64_t n = 53, out = 67;
  const std::vector<float> y0 = random_normal(rng, size_t(n * out)), bias = random_normal(rng, size_t(out));
  DeviceBuffer<bf16> dy = upload_bf16(y0, "y"), dbias_w = upload_bf16(bias, "bias");
  add_bias_bf16(dy.data(), dbias_w.data(), n, out);
  std::vector<float> ref(y0.size());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t c = 0; c < out; ++c) ref[size_t(t * out + c)] = round_bf16(y0[size_t(t * out + c)] + bias[size_t(c)]);
  check(same_bits(download_bf16(dy), ref), "add_bias_bf16 = bf16(y + bias) bit for bit");

  // bias_backward accumulates into dbias: Σ_t dy[t, c] in fp32 (53 terms, bound ~53·6e-8 of Σ|dy|).
  const std::vector<float> g = random_normal(rng, size_t(n * out)), init = random_normal(rng, size_t(out), 1.0, false);
  DeviceBuffer<bf16> dg = upload_bf16(g, "dy");
  DeviceBuffer<float> db = upload(init, "dbias");
  bias_backward(db.data(), dg.data(), n, out);
  const std::vector<float> got = db.download();
  std::vector<double> want(static_cast<size_t>(out));
  double worst = 0.0;
  for (int64_t c = 0; c < out; ++c) {
    double s = init[size_t(c)], mag = std::fabs(init[size_t(c)]);
    for (int64_t t = 0; t < n; ++t) {
      s += g[size_t(t * out + c)];
      mag += std::fabs(g[size_t(t * out + c)]);
    }
    worst = std::max(worst, std::fabs(got[size_t(c)] - s) / (1e-5 * mag));
  }
  check(worst <= 1.0, "bias_backward accumulates Σ_t dy (fp32, within 1e-5 of Σ|dy|)", "worst " + fmt(worst));
  DeviceBuffer<float> db2 = upload(init, "dbias2");
  bias_backward(db2.data(), dg.data(), n, out);
  check(same_bits(db2.download(), got), "bias_backward is deterministic");
}

// --- embedding ------------------------------------------------------------------------------

GPU_TEST(kernels_embedding) {
  Rng rng(15);
  CpuBackend<float> cpu(2);
  // 40 ids over a 37-row table: repeats, and ids on both sides of the 16 id groups of the backward.
  const int64_t vocab = 37, dim = 67, n = 40;
  const std::vector<float> table = random_normal(rng, size_t(vocab * dim));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& id : ids) id = int32_t(rng.next_u64() % uint64_t(vocab));
  ids[0] = 0;
  ids[1] = int32_t(vocab - 1);
  ids[2] = ids[3] = 17;
  DeviceBuffer<bf16> dtable = upload_bf16(table, "table"), dout(size_t(n * dim), "out");
  DeviceBuffer<int32_t> dids = upload(ids, "ids");

  embedding_forward(dout.data(), dids.data(), dtable.data(), n, dim);
  std::vector<float> ref(size_t(n * dim));
  cpu.embedding_forward(ref.data(), ids.data(), table.data(), n, dim);
  check(same_bits(download_bf16(dout), ref), "embedding_forward copies the rows (no perturbation)");

  // ZO perturbation: bf16(table + scale · z(seed, offset + id·dim + j)), one rounding. The host
  // evaluates the same Philox code; on a card cosf/logf may differ by an fp32 ulp, which can move
  // the result across a bf16 rounding boundary: at most 1 bf16 ulp.
  const float scale = 0.05f;
  const uint64_t seed = 0x1234abcd5678ull, offset = 777;
  embedding_forward(dout.data(), dids.data(), dtable.data(), n, dim, scale, seed, offset);
  std::vector<float> pref(size_t(n * dim));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < dim; ++j) {
      const int64_t e = int64_t(ids[size_t(t)]) * dim + j;
      pref[size_t(t * dim + j)] =
          round_bf16(table[size_t(e)] + scale * philox_normal(seed, kStreamPerturbation, offset + uint64_t(e)));
    }
  const std::vector<float> pgot = download_bf16(dout);
  const size_t differ = check_bf16_ulps("embedding_forward with perturbation = bf16(w + s·z)", pgot, pref, 1);
  if (gpu_emulated()) check(differ == 0, "embedding_forward perturbation is bit-exact in the emulator");
  check(!same_bits(pgot, ref), "the perturbation changes the output");

  // Backward: the CPU backend also sums each table element's tokens in token order in fp32, so the
  // results are bit-identical.
  const std::vector<float> g = random_normal(rng, size_t(n * dim), 1.0, false);
  const std::vector<float> init = random_normal(rng, size_t(vocab * dim), 1.0, false);
  DeviceBuffer<float> dg = upload(g, "dout"), dd = upload(init, "dtable"), dd2 = upload(init, "dtable2");
  embedding_backward(dd.data(), dg.data(), dids.data(), n, dim);
  embedding_backward(dd2.data(), dg.data(), dids.data(), n, dim);
  std::vector<float> bref = init;
  cpu.embedding_backward(bref.data(), g.data(), ids.data(), n, dim);
  const std::vector<float> bgot = dd.download();
  check(same_bits(bgot, bref), "embedding_backward matches the CPU backend bit for bit",
        "rel err " + fmt(tunesmith_test::relative_error(bgot.data(), bref.data(), bref.size())));
  check(same_bits(dd2.download(), bgot), "embedding_backward is deterministic");
}

// --- RMSNorm --------------------------------------------------------------------------------

namespace {

void rmsnorm_case(Rng& rng, int64_t n, int64_t dim) {
  CpuBackend<float> cpu(2);
  const float eps = 1e-5f;
  const std::string shape = " [" + std::to_string(n) + "x" + std::to_string(dim) + "]";
  const std::vector<float> x = random_normal(rng, size_t(n * dim), 2.0), w = random_normal(rng, size_t(dim), 0.5);
  DeviceBuffer<bf16> dx = upload_bf16(x, "x"), dw = upload_bf16(w, "w"), dout(size_t(n * dim), "out");
  DeviceBuffer<float> drstd(size_t(n), "rstd");
  rmsnorm_forward(dout.data(), drstd.data(), dx.data(), dw.data(), n, dim, eps);
  const std::vector<float> out = download_bf16(dout), rstd = drstd.download();

  // rstd from an fp32 block sum vs a float64 loop: within 1e-5 relative (dim ≤ a few thousand terms).
  std::vector<double> rstd_ref(static_cast<size_t>(n));
  std::vector<float> hf_ref(size_t(n * dim));
  for (int64_t t = 0; t < n; ++t) {
    double ss = 0;
    for (int64_t j = 0; j < dim; ++j) ss += double(x[size_t(t * dim + j)]) * x[size_t(t * dim + j)];
    rstd_ref[size_t(t)] = 1.0 / std::sqrt(ss / double(dim) + double(eps));
    const float r = float(rstd_ref[size_t(t)]);
    for (int64_t j = 0; j < dim; ++j)  // HF: bf16(bf16(x · rstd) · w)
      hf_ref[size_t(t * dim + j)] = round_bf16(round_bf16(x[size_t(t * dim + j)] * r) * w[size_t(j)]);
  }
  check_close("rmsnorm_forward rstd" + shape, rstd, rstd_ref, 1e-5, 0.0);
  // Two bf16 roundings, as in HF. rstd's fp32 noise can tip the first rounding, which moves the
  // output by up to an ulp of x̂ times w, plus the second rounding's half ulp: ≤ 2 bf16 ulps.
  check_bf16_ulps("rmsnorm_forward = bf16(bf16(x·rstd)·w) as HF" + shape, out, hf_ref, 2);
  // Against the CPU backend's single fp32 rounding: two bf16 roundings (each ≤ 2^-8 relative).
  std::vector<float> cpu_out(size_t(n * dim)), cpu_rstd(static_cast<size_t>(n));
  cpu.rmsnorm_forward(cpu_out.data(), cpu_rstd.data(), x.data(), w.data(), n, dim, eps);
  check_close("rmsnorm_forward vs the CPU backend (two bf16 roundings)" + shape, out, to_double(cpu_out),
              2 * kBf16Rounding + 1e-5, 1e-6);

  // Backward into accumulating dx and dw, with the device's rstd (the CPU backend gets the same).
  const std::vector<float> g = random_normal(rng, size_t(n * dim), 1.0, false);
  const std::vector<float> dx0 = random_normal(rng, size_t(n * dim), 1.0, false), dw0 = random_normal(rng, size_t(dim), 1.0, false);
  std::vector<float> dx_ref = dx0, dw_ref = dw0;
  cpu.rmsnorm_backward(dx_ref.data(), dw_ref.data(), g.data(), x.data(), w.data(), rstd.data(), n, dim);
  DeviceBuffer<float> dg = upload(g, "dout");
  std::vector<float> dx_runs[2], dw_runs[2];
  for (int run = 0; run < 2; ++run) {
    DeviceBuffer<float> ddx = upload(dx0, "dx"), ddw = upload(dw0, "dw");
    rmsnorm_backward(ddx.data(), ddw.data(), dg.data(), dx.data(), dw.data(), drstd.data(), n, dim);
    dx_runs[run] = ddx.download();
    dw_runs[run] = ddw.download();
  }
  // fp32 sums (the CPU sums the row dot in double, dw in token order): ~1e-6 relative; the
  // per-element floor scales with the terms' size (values ~1).
  check_close("rmsnorm_backward dx" + shape, dx_runs[0], to_double(dx_ref), 1e-5, 1e-5);
  check_close("rmsnorm_backward dw" + shape, dw_runs[0], to_double(dw_ref), 1e-5, 1e-5 * double(n));
  check(same_bits(dx_runs[0], dx_runs[1]) && same_bits(dw_runs[0], dw_runs[1]),
        "rmsnorm_backward is deterministic" + shape);

  // Frozen weight: dw null, dx the same.
  DeviceBuffer<float> ddx = upload(dx0, "dx");
  rmsnorm_backward(ddx.data(), nullptr, dg.data(), dx.data(), dw.data(), drstd.data(), n, dim);
  check(same_bits(ddx.download(), dx_runs[0]), "rmsnorm_backward without dw gives the same dx" + shape);
}

}  // namespace

GPU_TEST(kernels_rmsnorm) {
  Rng rng(16);
  rmsnorm_case(rng, 13, 67);   // dim < threads per block
  rmsnorm_case(rng, 5, 600);   // several columns per thread, not a multiple of 256
  if (!gpu_emulated()) rmsnorm_case(rng, 1000, 4096);
}

// --- RoPE -----------------------------------------------------------------------------------

GPU_TEST(kernels_rope) {
  Rng rng(17);
  CpuBackend<float> cpu(2);
  for (int64_t head_dim : {8, 64}) {
    const int64_t n = 7, heads = 3;
    const std::string shape = " [n " + std::to_string(n) + ", heads 3, hd " + std::to_string(head_dim) + "]";
    std::vector<int32_t> positions(static_cast<size_t>(n));
    for (int32_t& p : positions) p = int32_t(rng.next_u64() % 5000);  // large angles too
    positions[0] = 0;
    std::vector<float> inv_freq(size_t(head_dim / 2));
    for (size_t j = 0; j < inv_freq.size(); ++j)
      inv_freq[j] = float(1.0 / std::pow(10000.0, double(2 * j) / double(head_dim)));
    const std::vector<float> x = random_normal(rng, size_t(n * heads * head_dim));
    DeviceBuffer<int32_t> dpos = upload(positions, "positions");
    DeviceBuffer<float> dfreq = upload(inv_freq, "inv_freq");
    for (bool inverse : {false, true}) {
      DeviceBuffer<bf16> dx = upload_bf16(x, "x");
      rope(dx.data(), dpos.data(), dfreq.data(), n, heads, head_dim, inverse);
      std::vector<float> ref = x;
      cpu.rope(ref.data(), positions.data(), inv_freq.data(), n, heads, head_dim, inverse);
      // One bf16 rounding of the fp32 rotation; cosf/sinf vs the CPU's double cos/sin rounded to
      // float differ by ~1e-7, absolute 1e-5 covers that on values ~1 (and cancellation near 0).
      check_close(std::string("rope ") + (inverse ? "inverse" : "forward") + " vs the CPU backend" + shape,
                  download_bf16(dx), to_double(ref), kBf16Rounding + 1e-5, 1e-5);
      if (!inverse) {
        rope(dx.data(), dpos.data(), dfreq.data(), n, heads, head_dim, true);
        // Forward then inverse: two roundings of values ~1 (≤ 2·2^-8 relative, plus the rotation
        // mixing the pair's errors): 3·2^-8 of the pair's magnitude.
        const std::vector<float> back = download_bf16(dx);
        double worst = 0;
        for (size_t i = 0; i < back.size(); ++i) {
          const size_t pair = (i % size_t(head_dim)) < size_t(head_dim / 2) ? i + size_t(head_dim / 2) : i - size_t(head_dim / 2);
          const double mag = std::hypot(double(x[i]), double(x[pair]));
          worst = std::max(worst, std::fabs(back[i] - x[i]) / (3 * kBf16Rounding * mag + 1e-6));
        }
        check(worst <= 1.0, "rope inverse undoes forward" + shape, "worst " + fmt(worst));
      }
    }
  }
}

// --- SwiGLU ---------------------------------------------------------------------------------

GPU_TEST(kernels_swiglu) {
  Rng rng(18);
  CpuBackend<float> cpu(2);
  const int64_t n = 1000 + 3;
  std::vector<float> gate = random_normal(rng, size_t(n), 3.0);
  gate[0] = -100.0f;  // σ underflows / saturates
  gate[1] = 100.0f;
  gate[2] = 0.0f;
  gate[3] = round_bf16(-1.28f);  // near the zero of 1 + g(1 − σ)
  const std::vector<float> up = random_normal(rng, size_t(n)), dh = random_normal(rng, size_t(n));
  DeviceBuffer<bf16> dgate = upload_bf16(gate, "gate"), dup_in = upload_bf16(up, "up"), ddh = upload_bf16(dh, "dh");
  DeviceBuffer<bf16> h(size_t(n), "h"), dg(size_t(n), "dgate"), du(size_t(n), "dup");
  swiglu_forward(h.data(), dgate.data(), dup_in.data(), n);
  swiglu_backward(dg.data(), du.data(), ddh.data(), dgate.data(), dup_in.data(), n);
  std::vector<float> h_ref(static_cast<size_t>(n)), dg_ref(static_cast<size_t>(n)), du_ref(static_cast<size_t>(n));
  cpu.swiglu_forward(h_ref.data(), gate.data(), up.data(), n);
  cpu.swiglu_backward(dg_ref.data(), du_ref.data(), dh.data(), gate.data(), up.data(), n);
  // One bf16 rounding of fp32 math (expf differs from the CPU's by ≤ an fp32 ulp or two).
  check_close("swiglu_forward vs the CPU backend", download_bf16(h), to_double(h_ref), kBf16Rounding + 1e-5, 1e-6);
  check_close("swiglu_backward dgate vs the CPU backend", download_bf16(dg), to_double(dg_ref), kBf16Rounding + 1e-5,
              1e-6);
  check_close("swiglu_backward dup vs the CPU backend", download_bf16(du), to_double(du_ref), kBf16Rounding + 1e-5,
              1e-6);
}

// --- cross-entropy --------------------------------------------------------------------------

namespace {

void cross_entropy_case(Rng& rng, int64_t rows, int64_t vocab) {
  CpuBackend<float> cpu(2);
  const std::string shape = " [" + std::to_string(rows) + "x" + std::to_string(vocab) + "]";
  std::vector<float> logits = random_normal(rng, size_t(rows * vocab), 3.0, false);
  for (int64_t j = 0; j < vocab; ++j) logits[size_t(j)] += 100.0f;  // row 0 far from 0: needs the max shift
  std::vector<int32_t> targets(static_cast<size_t>(rows));
  for (int32_t& t : targets) t = int32_t(rng.next_u64() % uint64_t(vocab));
  targets[0] = 0;
  if (rows > 1) targets[1] = -100;  // ignored (HF's ignore_index)
  if (rows > 2) targets[2] = int32_t(vocab - 1);
  if (rows > 3) targets[3] = -1;
  // A confident row: nll ~1e-3..1e-1, where forming lse − x[target] from two large numbers would
  // lose relative accuracy (the relative part of the tolerance then dominates).
  if (rows > 4) logits[size_t(4 * vocab + targets[4])] = 20.0f;
  const float scale = 1.0f / 7.0f;

  DeviceBuffer<float> dlogits_in = upload(logits, "logits"), dnll(size_t(rows), "nll"), dnll2(size_t(rows), "nll2");
  DeviceBuffer<int32_t> dtargets = upload(targets, "targets");
  DeviceBuffer<bf16> dgrad(size_t(rows * vocab), "dlogits"), dgrad2(size_t(rows * vocab), "dlogits2");
  // Poison the gradient: ignored rows must be written with zeros.
  std::vector<bf16> poison(size_t(rows * vocab), float_to_bf16(NAN));
  dgrad.upload(poison.data(), poison.size());
  cross_entropy(dnll.data(), dgrad.data(), dlogits_in.data(), dtargets.data(), rows, vocab, scale);
  cross_entropy(dnll2.data(), nullptr, dlogits_in.data(), dtargets.data(), rows, vocab, scale);
  cross_entropy(dnll2.data(), dgrad2.data(), dlogits_in.data(), dtargets.data(), rows, vocab, scale);
  const std::vector<float> nll = dnll.download();

  std::vector<float> nll_ref(static_cast<size_t>(rows)), grad_ref(size_t(rows * vocab));
  cpu.cross_entropy_forward(nll_ref.data(), logits.data(), targets.data(), rows, vocab);
  cpu.cross_entropy_backward(grad_ref.data(), logits.data(), targets.data(), rows, vocab, scale);
  // fp32 Σexp over the row (block tree) and logf: ~1e-6 relative of log Σ; 1e-5 relative + 2e-6 absolute.
  check_close("cross_entropy nll vs the CPU backend" + shape, nll, to_double(nll_ref), 1e-5, 2e-6);
  bool ignored_zero = true;
  for (int64_t r = 0; r < rows; ++r) ignored_zero = ignored_zero && (targets[size_t(r)] >= 0 || nll[size_t(r)] == 0.0f);
  check(ignored_zero, "cross_entropy nll is 0 on ignored rows" + shape);
  // dlogits: one bf16 rounding of (softmax − onehot)·scale; the floor covers fp32 noise in tiny
  // probabilities (1e-6 of scale).
  const std::vector<float> grad = download_bf16(dgrad);
  check_close("cross_entropy dlogits vs the CPU backend" + shape, grad, to_double(grad_ref), kBf16Rounding + 1e-5,
              1e-6 * scale);
  check(same_bits(dnll2.download(), nll) && same_bits(download_bf16(dgrad2), grad),
        "cross_entropy is deterministic, with or without dlogits" + shape);
}

}  // namespace

GPU_TEST(kernels_cross_entropy) {
  Rng rng(19);
  cross_entropy_case(rng, 6, 1000 + 3);
  cross_entropy_case(rng, 5, 32000 + 5);
  if (!gpu_emulated()) cross_entropy_case(rng, 64, 128256);
}
