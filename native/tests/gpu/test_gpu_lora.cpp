// GPU LoRA (gpu/train/gpu_lora.h): the adapter math of one Linear (gpu_lora_math.h) against a
// float64 host loop fed the same bf16-rounded x, W, bias, A, B and dy, with and without dropout.
#include <cmath>
#include <cstring>
#include <vector>

#include "core/rng.h"
#include "gpu/device_memory.h"
#include "gpu/ops.h"
#include "gpu/train/gpu_lora_math.h"
#include "gpu_test.h"

using namespace tunesmith;
using namespace tunesmith::gpu;
using namespace tunesmith::gpu::lora_detail;
using tunesmith_test::check;
using tunesmith_test::fmt;
using tunesmith_test::relative_error;

namespace {

std::vector<bf16> to_bf16(const std::vector<double>& v) {
  std::vector<bf16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float_to_bf16(float(v[i]));
  return out;
}
std::vector<double> to_double(const std::vector<bf16>& v) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = double(bf16_to_float(v[i]));
  return out;
}
std::vector<double> normals(Rng& rng, size_t n, double std) {
  std::vector<double> v(n);
  for (double& x : v) x = std * rng.normal();
  return v;
}
template <typename T>
DeviceBuffer<T> device_copy(const std::vector<T>& host, const char* what) {
  DeviceBuffer<T> d(host.size(), what);
  d.upload(host.data(), host.size());
  return d;
}

// Max over elements of |got − want| / scale[i]: the error in units of each element's own magnitude
// (Σ|terms| of its dot products), the yardstick of rounding error.
double scaled_error(const std::vector<double>& got, const std::vector<double>& want, const std::vector<double>& scale) {
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]) / (scale[i] + 1e-30));
  return worst;
}

struct Case {
  int64_t n, in, out, r;
  float scaling;
  float p;                 // dropout
  int64_t chunk_elements;  // row chunking of the dropout path
  bool bias;
  ElementType dx_type;
  bool accumulate;
};

void run_case(const Case& c, const std::string& name) {
  Rng rng(uint64_t(c.n * 131 + c.in * 7 + c.out + c.r));
  const int64_t n = c.n, in = c.in, out = c.out, r = c.r;
  // bf16-rounded inputs shared by both sides.
  std::vector<bf16> x16 = to_bf16(normals(rng, size_t(n * in), 1.0));
  std::vector<bf16> w16 = to_bf16(normals(rng, size_t(out * in), 0.2));
  std::vector<bf16> bias16 = to_bf16(normals(rng, size_t(out), 0.5));
  std::vector<bf16> a16 = to_bf16(normals(rng, size_t(r * in), 0.3));
  std::vector<bf16> b16 = to_bf16(normals(rng, size_t(out * r), 0.3));
  std::vector<bf16> dy16 = to_bf16(normals(rng, size_t(n * out), 1.0));
  std::vector<double> dx0 = to_double(to_bf16(normals(rng, size_t(n * in), 1.0)));  // dx before (accumulate)
  const std::vector<double> x = to_double(x16), w = to_double(w16), bias = to_double(bias16), a = to_double(a16),
                            b = to_double(b16), dy = to_double(dy16);
  const double s = c.scaling;

  LoraDropout drop;
  drop.p = c.p;
  drop.seed = 0x5EEDull + uint64_t(n);
  drop.offset = uint64_t(3) << 40;
  // The mask and its scale as the op draws them: dropout of ones (p = 0.5 makes 1/(1-p) exact).
  std::vector<double> keep(size_t(n * in), 1.0);
  if (c.p > 0.0f) {
    std::vector<bf16> ones(size_t(n * in), float_to_bf16(1.0f));
    DeviceBuffer<bf16> d_ones = device_copy(ones, "ones"), d_mask(ones.size(), "mask");
    dropout_bf16(d_mask.data(), d_ones.data(), n * in, c.p, drop.seed, drop.offset);
    keep = to_double(d_mask.download());
    size_t dropped = 0;
    for (double k : keep) dropped += k == 0.0;
    check(dropped > 0 && dropped < keep.size(), name + ": dropout mask drops some, not all",
          std::to_string(dropped) + " of " + std::to_string(keep.size()));
  }

  // float64 reference.
  std::vector<double> xd(size_t(n * in));
  for (size_t i = 0; i < xd.size(); ++i) xd[i] = x[i] * keep[i];
  std::vector<double> u(size_t(n * r), 0.0), u_abs(size_t(n * r), 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < r; ++j)
      for (int64_t i = 0; i < in; ++i) {
        u[size_t(t * r + j)] += xd[size_t(t * in + i)] * a[size_t(j * in + i)];
        u_abs[size_t(t * r + j)] += std::fabs(xd[size_t(t * in + i)] * a[size_t(j * in + i)]);
      }
  std::vector<double> y(size_t(n * out)), y_scale(size_t(n * out));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t o = 0; o < out; ++o) {
      double acc = c.bias ? bias[size_t(o)] : 0.0, mag = std::fabs(acc);
      for (int64_t i = 0; i < in; ++i) {
        acc += x[size_t(t * in + i)] * w[size_t(o * in + i)];
        mag += std::fabs(x[size_t(t * in + i)] * w[size_t(o * in + i)]);
      }
      for (int64_t j = 0; j < r; ++j) {
        acc += s * u[size_t(t * r + j)] * b[size_t(o * r + j)];
        mag += s * u_abs[size_t(t * r + j)] * std::fabs(b[size_t(o * r + j)]);
      }
      y[size_t(t * out + o)] = acc;
      y_scale[size_t(t * out + o)] = mag;
    }
  std::vector<double> du(size_t(n * r), 0.0), gb(size_t(out * r), 0.0), ga(size_t(r * in), 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < r; ++j)
      for (int64_t o = 0; o < out; ++o) du[size_t(t * r + j)] += s * dy[size_t(t * out + o)] * b[size_t(o * r + j)];
  for (int64_t o = 0; o < out; ++o)
    for (int64_t j = 0; j < r; ++j)
      for (int64_t t = 0; t < n; ++t) gb[size_t(o * r + j)] += s * dy[size_t(t * out + o)] * u[size_t(t * r + j)];
  for (int64_t j = 0; j < r; ++j)
    for (int64_t i = 0; i < in; ++i)
      for (int64_t t = 0; t < n; ++t) ga[size_t(j * in + i)] += du[size_t(t * r + j)] * xd[size_t(t * in + i)];
  std::vector<double> dx(size_t(n * in)), dx_scale(size_t(n * in));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < in; ++i) {
      double acc = c.accumulate ? dx0[size_t(t * in + i)] : 0.0, mag = std::fabs(acc);
      for (int64_t o = 0; o < out; ++o) {
        acc += dy[size_t(t * out + o)] * w[size_t(o * in + i)];
        mag += std::fabs(dy[size_t(t * out + o)] * w[size_t(o * in + i)]);
      }
      double lora = 0.0, lora_mag = 0.0;
      for (int64_t j = 0; j < r; ++j) {
        lora += du[size_t(t * r + j)] * a[size_t(j * in + i)];
        lora_mag += std::fabs(du[size_t(t * r + j)] * a[size_t(j * in + i)]);
      }
      dx[size_t(t * in + i)] = acc + keep[size_t(t * in + i)] * lora;
      dx_scale[size_t(t * in + i)] = mag + keep[size_t(t * in + i)] * lora_mag;
    }

  // GPU.
  DeviceBuffer<bf16> d_x = device_copy(x16, "x"), d_w = device_copy(w16, "w"), d_bias = device_copy(bias16, "bias"),
                     d_a = device_copy(a16, "A16"), d_b = device_copy(b16, "B16"), d_dy = device_copy(dy16, "dy");
  DeviceBuffer<bf16> d_y(size_t(n * out), "y");
  std::vector<float> grad_init_a(size_t(r * in), 0.25f), grad_init_b(size_t(out * r), -0.5f);  // accumulated into
  DeviceBuffer<float> d_ga = device_copy(grad_init_a, "dA"), d_gb = device_copy(grad_init_b, "dB");
  LoraWeights lw;
  lw.a16 = d_a.data();
  lw.b16 = d_b.data();
  lw.grad_a = d_ga.data();
  lw.grad_b = d_gb.data();
  lw.r = r;
  lw.scaling = c.scaling;
  LoraScratch scratch;
  scratch.chunk_elements = c.chunk_elements;
  lora_linear_forward(d_y.data(), d_x.data(), d_w.data(), c.bias ? d_bias.data() : nullptr, n, in, out, lw, drop,
                      scratch);
  const std::vector<double> y_gpu = to_double(d_y.download());
  // bf16 y: the base product, the bias add, u and the final sum are each rounded once (≤ 2^-9 of
  // the magnitudes involved), so 2^-7 of Σ|terms| bounds it with room.
  const double y_err = scaled_error(y_gpu, y, y_scale);
  check(y_err < 1.0 / 128, name + ": forward y vs float64", "max err / Σ|terms| = " + fmt(y_err));

  std::vector<double> dx_gpu;
  if (c.dx_type == ElementType::F32) {
    std::vector<float> init(dx0.begin(), dx0.end());
    DeviceBuffer<float> d_dx = device_copy(init, "dx");
    lora_linear_backward(d_dx.data(), ElementType::F32, d_dy.data(), d_x.data(), d_w.data(), n, in, out, c.accumulate, lw,
                         drop, scratch);
    std::vector<float> h = d_dx.download();
    dx_gpu.assign(h.begin(), h.end());
  } else {
    DeviceBuffer<bf16> d_dx = device_copy(to_bf16(dx0), "dx");
    lora_linear_backward(d_dx.data(), ElementType::BF16, d_dy.data(), d_x.data(), d_w.data(), n, in, out, c.accumulate,
                         lw, drop, scratch);
    dx_gpu = to_double(d_dx.download());
  }
  // dx: the base product is fp32-accumulated from exact bf16 inputs; the LoRA term goes through
  // bf16 u/du (one rounding each) and, with dropout or a bf16 dx, one or two more roundings.
  const double dx_err = scaled_error(dx_gpu, dx, dx_scale);
  check(dx_err < 1.0 / 128, name + ": backward dx vs float64", "max err / Σ|terms| = " + fmt(dx_err));

  // Parameter gradients accumulate onto the initial values; u and du are bf16 on the card (one
  // rounding each, ≤ 2^-9 relative), everything else fp32: 1e-2 relative (norm-wise) has ~5x room.
  std::vector<float> ga_gpu = d_ga.download(), gb_gpu = d_gb.download();
  for (size_t i = 0; i < ga.size(); ++i) ga_gpu[i] -= 0.25f;
  for (size_t i = 0; i < gb.size(); ++i) gb_gpu[i] += 0.5f;
  const double ea = relative_error(ga_gpu.data(), ga.data(), ga.size());
  const double eb = relative_error(gb_gpu.data(), gb.data(), gb.size());
  check(ea < 1e-2, name + ": dA accumulated vs float64", "rel err " + fmt(ea));
  check(eb < 1e-2, name + ": dB accumulated vs float64", "rel err " + fmt(eb));
}

}  // namespace

GPU_TEST(lora_linear_matches_float64) {
  // Odd sizes (nothing a multiple of a block or warp), bias, fp32 accumulated dx.
  run_case({13, 40, 24, 4, 2.0f, 0.0f, int64_t(1) << 22, true, ElementType::F32, true}, "lora f32 dx, bias");
  // bf16 dx overwritten (o_proj's case), no bias, rsLoRA-like non-power-of-two scaling.
  run_case({9, 33, 17, 3, 3.7f, 0.0f, int64_t(1) << 22, false, ElementType::BF16, false}, "lora bf16 dx");
}

GPU_TEST(lora_linear_dropout_matches_float64) {
  // p = 0.5 so the kept values' 1/(1-p) is exact in bf16; chunk_elements = 3 rows forces the
  // row-chunked path (mask indices must not depend on the chunking).
  run_case({11, 20, 12, 4, 2.0f, 0.5f, 3 * 20, true, ElementType::F32, true}, "lora dropout f32 dx, chunked");
  run_case({11, 20, 12, 4, 2.0f, 0.5f, int64_t(1) << 22, false, ElementType::BF16, true}, "lora dropout bf16 dx");
}
