// Random numbers on the card (kernels/perturb.cu and gpu/philox.h): Philox's published answers on
// the host and in a kernel, then every op against a host computation with the same philox
// functions. Host and card may differ by an ulp in logf/cosf (CUDA's are not correctly rounded), so
// values built from a normal draw are compared to within one bf16 ulp; integer-only decisions
// (dropout's mask, the rounding bits) must be identical.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/rng.h"
#include "gpu/device_memory.h"
#include "gpu/launch.h"
#include "gpu/ops.h"
#include "gpu/philox.h"
#include "gpu_test.h"

using namespace tunesmith;
using namespace tunesmith::gpu;
using tunesmith_test::check;
using tunesmith_test::fmt;

namespace {

// Random123's known-answer vectors for Philox4x32-10 (kat_vectors): counter, key -> output.
struct PhiloxKat {
  uint32_t counter[4], key[2], out[4];
};
const PhiloxKat kPhiloxKats[3] = {
    {{0u, 0u, 0u, 0u}, {0u, 0u}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
    {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
     {0xffffffffu, 0xffffffffu},
     {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
    {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
     {0xa4093822u, 0x299f31d0u},
     {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
};

// in[k*6 .. k*6+5] = counter, key; out[k*4 .. k*4+3].
__global__ void philox_kat_kernel(uint32_t* out, const uint32_t* in, int count) {
  const int k = int(threadIdx.x);
  if (k >= count) return;
  const uint32_t* c = in + 6 * k;
  const Philox4 r = philox4x32(c[0], c[1], c[2], c[3], c[4], c[5]);
  for (int j = 0; j < 4; ++j) out[4 * k + j] = r.v[j];
}

// |a - b| in bf16 ulps of the larger magnitude (0 when equal; bit patterns of finite values).
double ulps_apart(bf16 a, bf16 b) {
  const float fa = bf16_to_float(a), fb = bf16_to_float(b);
  if (fa == fb) return 0;
  const float big = std::max(std::fabs(fa), std::fabs(fb));
  return std::fabs(double(fa) - double(fb)) / std::ldexp(1.0, std::ilogb(big) - 7);
}

std::vector<bf16> random_bf16(Rng& rng, size_t n, double scale) {
  std::vector<bf16> v(n);
  for (bf16& x : v) x = float_to_bf16(float(scale * rng.normal()));
  return v;
}

int64_t emulated_or(int64_t emulated, int64_t card) { return tunesmith_test::gpu_emulated() ? emulated : card; }

}  // namespace

GPU_TEST(philox_known_answers) {
  bool host_ok = true;
  std::vector<uint32_t> in;
  for (const PhiloxKat& k : kPhiloxKats) {
    const Philox4 r = philox4x32(k.counter[0], k.counter[1], k.counter[2], k.counter[3], k.key[0], k.key[1]);
    for (int j = 0; j < 4; ++j) host_ok = host_ok && r.v[j] == k.out[j];
    in.insert(in.end(), {k.counter[0], k.counter[1], k.counter[2], k.counter[3], k.key[0], k.key[1]});
  }
  check(host_ok, "Philox4x32-10 = Random123's known answers (host)");
  DeviceBuffer<uint32_t> din(in.size(), "kat in"), dout(12, "kat out");
  din.upload(in.data(), in.size());
  launch("philox_kat", philox_kat_kernel, dim3(1), dim3(32), 0, dout.data(), din.data(), 3);
  const std::vector<uint32_t> out = dout.download();
  bool device_ok = true;
  for (int k = 0; k < 3; ++k)
    for (int j = 0; j < 4; ++j) device_ok = device_ok && out[size_t(4 * k + j)] == kPhiloxKats[k].out[j];
  check(device_ok, "Philox4x32-10 = Random123's known answers (kernel)");
}

GPU_TEST(init_normal_and_fill) {
  const int64_t n = emulated_or(20000, 1 << 22);
  const float std_dev = 0.02f;
  const uint64_t seed = 0x1234abcd5678ull, offset = (1ull << 32) - 100;  // crosses the counter's high word
  DeviceBuffer<bf16> dx(size_t(n), "x");
  init_normal_bf16(dx.data(), n, std_dev, seed, offset);
  const std::vector<bf16> x = dx.download();
  double worst = 0, sum = 0, sum2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bf16 want = float_to_bf16(std_dev * philox_normal(seed, kStreamInit, offset + uint64_t(i)));
    worst = std::max(worst, ulps_apart(x[size_t(i)], want));
    const double v = bf16_to_float(x[size_t(i)]);
    sum += v;
    sum2 += v * v;
  }
  const double mean = sum / double(n), sd = std::sqrt(sum2 / double(n) - mean * mean);
  // Same philox and Box-Muller as the host; ≤ 1 bf16 ulp for the card's logf/cosf.
  check(worst <= 1, "init_normal_bf16 = host philox_normal", "max " + fmt(worst) + " ulp");
  // Moments of n samples: the mean's std is σ/√n (0.7% of σ emulated), the std's is σ/√(2n)
  // (0.5%); 5σ bounds, plus bf16 rounding of each sample (2^-9, unbiased).
  const double se = 1.0 / std::sqrt(double(n));
  check(std::fabs(mean) < 5 * se * std_dev && std::fabs(sd / std_dev - 1) < 5 * se / std::sqrt(2.0) + 4e-3,
        "init_normal_bf16 moments", "mean " + fmt(mean) + " std " + fmt(sd) + " (want 0, " + fmt(std_dev) + ")");

  fill_bf16(dx.data(), -1.75f, n - 3);  // the last 3 keep their random values
  const std::vector<bf16> f = dx.download();
  bool ok = true;
  for (int64_t i = 0; i < n; ++i)
    ok = ok && f[size_t(i)].bits == (i < n - 3 ? float_to_bf16(-1.75f).bits : x[size_t(i)].bits);
  check(ok, "fill_bf16 writes exactly n values");
}

GPU_TEST(perturbed_copy_symmetric) {
  Rng rng(21);
  const int64_t n = emulated_or(10000, 1 << 22);
  const std::vector<bf16> src = random_bf16(rng, size_t(n), 1.0);
  const float eps = 1e-2f;
  const uint64_t seed = 99, offset = 12345;
  DeviceBuffer<bf16> dsrc(size_t(n), "src"), dplus(size_t(n), "plus"), dminus(size_t(n), "minus");
  dsrc.upload(src.data(), src.size());
  perturbed_copy_bf16(dplus.data(), dsrc.data(), n, eps, seed, offset);
  perturbed_copy_bf16(dminus.data(), dsrc.data(), n, -eps, seed, offset);
  const std::vector<bf16> plus = dplus.download(), minus = dminus.download(), after = dsrc.download();
  double worst = 0;
  int64_t asymmetric = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float z = philox_normal(seed, kStreamPerturbation, offset + uint64_t(i));
    const float s = bf16_to_float(src[size_t(i)]);
    worst = std::max(worst, ulps_apart(plus[size_t(i)], float_to_bf16(s + eps * z)));
    worst = std::max(worst, ulps_apart(minus[size_t(i)], float_to_bf16(s - eps * z)));
    // Symmetry: (plus - s) and (s - minus) are both eps·z up to one rounding each (≤ half an ulp
    // of each result), plus the card's possible one-ulp difference in z: allow 1.5 ulps of each.
    const double p = bf16_to_float(plus[size_t(i)]), m = bf16_to_float(minus[size_t(i)]);
    const double up = std::ldexp(1.0, std::ilogb(std::fabs(float(p))) - 7);
    const double um = std::ldexp(1.0, std::ilogb(std::fabs(float(m))) - 7);
    asymmetric += std::fabs((p - s) - (s - m)) > 1.5 * (up + um);
  }
  bool untouched = true;
  for (int64_t i = 0; i < n; ++i) untouched = untouched && after[size_t(i)].bits == src[size_t(i)].bits;
  check(worst <= 1, "perturbed_copy_bf16 = host src + scale·z", "max " + fmt(worst) + " ulp");
  check(asymmetric == 0 && untouched, "perturbed_copy_bf16 +s / -s symmetric about src, src untouched",
        std::to_string(asymmetric) + " asymmetric of " + std::to_string(n));
}

GPU_TEST(zo_update_unbiased) {
  Rng rng(22);
  const int64_t n = 512;
  const int seeds = tunesmith_test::gpu_emulated() ? 64 : 1024;
  // Parameters in [1, 2) (ulp 2^-7); coeff 2e-4 moves each by ≈ 0.03 ulp·|z|: invisible to
  // round-to-nearest, kept on average by stochastic rounding.
  std::vector<bf16> p0(static_cast<size_t>(n));
  for (bf16& p : p0) p = float_to_bf16(float(1.01 + 0.98 * rng.uniform()));  // away from 1 and 2
  const float coeff = 2e-4f;
  const uint64_t seed = 5, offset = 1000;
  DeviceBuffer<bf16> dp(size_t(n), "param");
  std::vector<double> mean(static_cast<size_t>(n), 0.0);
  double worst = 0;
  for (int s = 0; s < seeds; ++s) {
    dp.upload(p0.data(), p0.size());
    const uint64_t rounding_seed = 700 + uint64_t(s);
    zo_update_bf16(dp.data(), n, coeff, seed, offset, rounding_seed);
    const std::vector<bf16> out = dp.download();
    for (int64_t i = 0; i < n; ++i) {
      mean[size_t(i)] += double(bf16_to_float(out[size_t(i)])) / seeds;
      if (s < 4) {  // exact host recomputation (≤ 1 ulp on the card, see the file comment)
        const uint64_t index = offset + uint64_t(i);
        const float p = bf16_to_float(p0[size_t(i)]) - coeff * philox_normal(seed, kStreamPerturbation, index);
        const bf16 want = float_to_bf16_stochastic(p, philox_bits(rounding_seed, kStreamRounding, index).v[0]);
        worst = std::max(worst, ulps_apart(out[size_t(i)], want));
      }
    }
  }
  check(worst <= 1, "zo_update_bf16 = host param - coeff·z, stochastically rounded", "max " + fmt(worst) + " ulp");
  // Mean over rounding seeds vs the exact update: z-score of Σ(mean - ref)/ulp, whose variance is
  // Σ q(1-q)/seeds for the fractional position q of each ref between its bf16 neighbours; |z| < 5.
  double zsum = 0, var = 0, got = 0, want = 0;
  const double ulp = std::ldexp(1.0, -7);
  for (int64_t i = 0; i < n; ++i) {
    const double p = bf16_to_float(p0[size_t(i)]);
    const double ref = p - double(coeff) * double(philox_normal(seed, kStreamPerturbation, offset + uint64_t(i)));
    const double q = (ref - std::floor(ref / ulp) * ulp) / ulp;
    zsum += (mean[size_t(i)] - ref) / ulp;
    var += q * (1 - q) / seeds;
    got += std::fabs(mean[size_t(i)] - p);
    want += std::fabs(ref - p);
  }
  const double zscore = zsum / std::sqrt(var);
  check(std::fabs(zscore) < 5, "zo_update_bf16 stochastic rounding is unbiased (mean over seeds)",
        "z-score " + fmt(zscore) + ", mean |update| " + fmt(got / n) + " (exact " + fmt(want / n) + ")");
}

GPU_TEST(dropout_mask_and_scale) {
  Rng rng(23);
  const int64_t n = emulated_or(20000, 1 << 22);
  const std::vector<bf16> x = random_bf16(rng, size_t(n), 1.0);
  DeviceBuffer<bf16> dx(size_t(n), "x"), dout(size_t(n), "out");
  dx.upload(x.data(), x.size());
  for (const float p : {0.0f, 0.25f, 1.0f}) {
    const uint64_t seed = 42, offset = 777;
    dropout_bf16(dout.data(), dx.data(), n, p, seed, offset);
    const std::vector<bf16> out = dout.download();
    int64_t kept = 0, wrong = 0;
    for (int64_t i = 0; i < n; ++i) {
      const bool keep = philox_uniform(philox_bits(seed, kStreamDropout, offset + uint64_t(i)).v[0]) > p;
      kept += keep;
      const bf16 want = keep ? float_to_bf16(bf16_to_float(x[size_t(i)]) / (1.0f - p)) : bf16{0};
      wrong += out[size_t(i)].bits != want.bits;
    }
    // Mask and scaling are exact (integer decision, one correctly rounded division). Keep fraction:
    // binomial, std sqrt(p(1-p)/n) (0.3% emulated); 5σ.
    const double frac = double(kept) / double(n);
    const double tol = 5 * std::sqrt(p * (1 - p) / double(n)) + 1e-12;
    check(wrong == 0 && std::fabs(frac - (1 - p)) <= tol,
          "dropout_bf16 p=" + fmt(p) + ": host mask, x/(1-p) scaling, keep fraction ≈ 1-p",
          std::to_string(wrong) + " wrong, kept " + fmt(frac));
  }
}
