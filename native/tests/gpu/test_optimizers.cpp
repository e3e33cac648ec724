// AdamW on the card (gpu/ops.h adamw_f32 / adamw_bf16) against the CPU backend's adamw_step.
#include <cmath>
#include <cstring>
#include <vector>

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
using tunesmith_test::fmt;
using tunesmith_test::relative_error;

namespace {

// The CPU's hyperparameters from the GPU's (the floats widened, so both round them identically).
AdamWParams cpu_params(const AdamWHyper& h) {
  AdamWParams p;
  p.lr = h.lr;
  p.beta1 = h.beta1;
  p.beta2 = h.beta2;
  p.eps = h.eps;
  p.weight_decay = h.weight_decay;
  p.step = h.step;
  return p;
}

std::vector<float> normal_floats(Rng& rng, size_t n, double scale = 1.0) {
  std::vector<float> v(n);
  for (float& x : v) x = float(scale * rng.normal());
  return v;
}

// The bf16 value below |f| (truncation) in bits; stochastic rounding yields it or the next one up.
uint16_t truncated_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return uint16_t(u >> 16);
}
bool exact_in_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return (u & 0xffffu) == 0;
}

}  // namespace

GPU_TEST(adamw_f32_matches_cpu) {
  Rng rng(11);
  const int64_t n = tunesmith_test::gpu_emulated() ? 1000 : (1 << 20) + 3;
  std::vector<float> param = normal_floats(rng, size_t(n)), m(size_t(n), 0.0f), v(size_t(n), 0.0f);
  DeviceBuffer<float> dparam(size_t(n), "param"), dgrad(size_t(n), "grad"), dm(size_t(n), "m"), dv(size_t(n), "v");
  dparam.upload(param.data(), param.size());
  CpuBackend<float> cpu(2);
  AdamWHyper h;
  h.lr = 1e-2f;
  h.weight_decay = 0.1f;
  for (int step = 1; step <= 3; ++step) {
    h.step = step;
    // Step 3 also exercises grad_scale: a power of two, so the CPU's pre-scaled gradient is exact.
    h.grad_scale = step == 3 ? 0.5f : 1.0f;
    std::vector<float> grad = normal_floats(rng, size_t(n));
    dgrad.upload(grad.data(), grad.size());
    adamw_f32(dparam.data(), dgrad.data(), dm.data(), dv.data(), n, h);
    for (float& g : grad) g *= h.grad_scale;
    cpu.adamw_step(param.data(), grad.data(), m.data(), v.data(), n, cpu_params(h));
  }
  // Same fp32 operations in the same order; on the card nvcc may fuse multiply-adds (≤ 1 ulp per
  // operation, a few ulps after 3 steps): 1e-6 relative.
  const double ep = relative_error(dparam.download().data(), param.data(), size_t(n));
  const double em = relative_error(dm.download().data(), m.data(), size_t(n));
  const double ev = relative_error(dv.download().data(), v.data(), size_t(n));
  check(ep < 1e-6 && em < 1e-6 && ev < 1e-6, "adamw_f32 = CPU adamw_step over 3 steps (wd, grad_scale)",
        "rel err param " + fmt(ep) + " m " + fmt(em) + " v " + fmt(ev));
}

// One step from zero states: every draw is one of the two bf16 neighbours of the fp32 update, and
// the mean over rounding seeds is the fp32 update (updates far below half an ulp survive on average).
GPU_TEST(adamw_bf16_stochastic_rounding_unbiased) {
  Rng rng(12);
  const int64_t n = 512;
  const int seeds = tunesmith_test::gpu_emulated() ? 64 : 1024;
  // Parameters in [1, 2) (ulp 2^-7 ≈ 7.8e-3), positive gradients: Adam's first step moves every
  // parameter by about -lr = -1e-3 ≈ -0.13 ulp, which round-to-nearest would erase entirely.
  std::vector<float> p0(static_cast<size_t>(n)), grad(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    p0[size_t(i)] = bf16_to_float(float_to_bf16(float(1.01 + 0.98 * rng.uniform())));  // away from 1 and 2
    grad[size_t(i)] = float(0.1 + rng.uniform());
  }
  AdamWHyper h;
  h.lr = 1e-3f;
  h.weight_decay = 0.01f;
  h.step = 1;
  std::vector<float> ref = p0, mref(static_cast<size_t>(n), 0.0f), vref(static_cast<size_t>(n), 0.0f);
  CpuBackend<float> cpu(2);
  cpu.adamw_step(ref.data(), grad.data(), mref.data(), vref.data(), n, cpu_params(h));

  DeviceBuffer<bf16> dparam(size_t(n), "param");
  DeviceBuffer<float> dgrad(size_t(n), "grad"), dm(size_t(n), "m"), dv(size_t(n), "v");
  dgrad.upload(grad.data(), grad.size());
  const std::vector<bf16> p0_bf16 = to_bf16(p0);
  std::vector<double> mean(static_cast<size_t>(n), 0.0);
  bool neighbours = true;
  double state_err = 0;
  for (int s = 0; s < seeds; ++s) {
    dparam.upload(p0_bf16.data(), p0_bf16.size());
    dm.zero();
    dv.zero();
    adamw_bf16(dparam.data(), dgrad.data(), dm.data(), dv.data(), nullptr, nullptr, n, h, 1000 + uint64_t(s),
               uint64_t(s) * 7);
    const std::vector<bf16> out = dparam.download();
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t lo = truncated_bits(ref[size_t(i)]);
      const uint16_t b = out[size_t(i)].bits;
      neighbours = neighbours && (b == lo || (!exact_in_bf16(ref[size_t(i)]) && b == lo + 1));
      mean[size_t(i)] += double(bf16_to_float(out[size_t(i)])) / seeds;
    }
    if (s == 0)
      state_err = std::max(relative_error(dm.download().data(), mref.data(), size_t(n)),
                           relative_error(dv.download().data(), vref.data(), size_t(n)));
  }
  check(neighbours, "adamw_bf16: every result is a bf16 neighbour of the fp32 update");
  // fp32 states follow the CPU's exactly (up to FMA fusion on the card): 1e-6.
  check(state_err < 1e-6, "adamw_bf16 fp32 states = CPU", "rel err " + fmt(state_err));
  // Mean update: Σ(mean - p0) vs Σ(ref - p0). Each element drops one ulp with probability q ≈ 0.13,
  // so the total over n·seeds draws has relative std ≈ 1/sqrt(q·n·seeds) (1.5% emulated, 0.4% on
  // a card); 8% is > 5σ. Round-to-nearest would give 0 (a 100% error).
  double got = 0, want = 0, z = 0, var = 0;
  for (int64_t i = 0; i < n; ++i) {
    got += mean[size_t(i)] - p0[size_t(i)];
    want += double(ref[size_t(i)]) - p0[size_t(i)];
    const double ulp = std::ldexp(1.0, -7);
    const double q = (double(ref[size_t(i)]) - bf16_to_float(bf16{truncated_bits(ref[size_t(i)])})) / ulp;
    z += (mean[size_t(i)] - ref[size_t(i)]) / ulp;
    var += q * (1 - q) / seeds;
  }
  const double rel = std::fabs(got - want) / std::fabs(want), zscore = z / std::sqrt(var);
  check(rel < 0.08 && std::fabs(zscore) < 5, "adamw_bf16 stochastic rounding is unbiased (mean over seeds)",
        "mean update rel err " + fmt(rel) + ", z-score " + fmt(zscore) + " over " + std::to_string(seeds) + " seeds");
}

// bf16 states: the same 3 steps as fp32 states, within the states' bf16 rounding.
GPU_TEST(adamw_bf16_states_close_to_fp32_states) {
  Rng rng(13);
  const int64_t n = tunesmith_test::gpu_emulated() ? 1000 : (1 << 20) + 3;
  const std::vector<bf16> p0 = to_bf16(normal_floats(rng, size_t(n)));
  DeviceBuffer<bf16> pa(size_t(n), "param a"), pb(size_t(n), "param b"), m16(size_t(n), "m16"), v16(size_t(n), "v16");
  DeviceBuffer<float> dgrad(size_t(n), "grad"), m32(size_t(n), "m32"), v32(size_t(n), "v32");
  pa.upload(p0.data(), p0.size());
  pb.upload(p0.data(), p0.size());
  AdamWHyper h;
  h.lr = 1e-2f;
  h.weight_decay = 0.1f;
  for (int step = 1; step <= 3; ++step) {
    h.step = step;
    const std::vector<float> grad = normal_floats(rng, size_t(n));
    dgrad.upload(grad.data(), grad.size());
    adamw_bf16(pa.data(), dgrad.data(), m32.data(), v32.data(), nullptr, nullptr, n, h, 77 + uint64_t(step), 5);
    adamw_bf16(pb.data(), dgrad.data(), nullptr, nullptr, m16.data(), v16.data(), n, h, 77 + uint64_t(step), 5);
  }
  // States: one bf16 rounding per step (≤ 2^-9 relative), carried forward: 3 · 2^-9 ≈ 6e-3.
  const std::vector<float> ma = m32.download(), va = v32.download();
  const double em = relative_error(to_float(m16.download()).data(), ma.data(), size_t(n));
  const double ev = relative_error(to_float(v16.download()).data(), va.data(), size_t(n));
  // Parameters: both runs use the same rounding bits, so the results differ by the update's change
  // through the states plus flipped roundings: per step |Δupdate| ≤ lr·|m̂/√v̂|·(state error)
  // ≤ 1e-2 · 3 · 6e-3 < 2e-4, and at most one flip of one ulp (that of the larger magnitude).
  const std::vector<bf16> a = pa.download(), b = pb.download();
  int64_t differ = 0, beyond = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float fa = bf16_to_float(a[size_t(i)]), fb = bf16_to_float(b[size_t(i)]);
    if (fa == fb) continue;
    ++differ;
    const double ulp = std::ldexp(1.0, std::ilogb(std::max(std::fabs(fa), std::fabs(fb))) - 7);
    beyond += std::fabs(double(fa) - double(fb)) > 3 * (ulp + 2e-4);
  }
  const double ep = relative_error(to_float(b).data(), to_float(a).data(), size_t(n));
  check(em < 6e-3 && ev < 6e-3 && beyond == 0, "adamw_bf16 with bf16 states ≈ fp32 states",
        "state rel err m " + fmt(em) + " v " + fmt(ev) + "; params differing: " + std::to_string(differ) + "/" +
            std::to_string(n) + ", beyond the bound: " + std::to_string(beyond) + ", param rel err " + fmt(ep));
}
