// NF4 / double quantization against bitsandbytes' definitions: the codebook (also re-derived from
// create_normal_map in float64), the decision-tree thresholds, the nibble packing on a hand-made
// tensor, the signed dynamic 8-bit map, and quantize -> dequantize of random tensors against an
// independent float64 re-implementation (nearest code by argmin instead of the tree).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "check.h"
#include "core/memory.h"
#include "core/rng.h"
#include "quant/nf4.h"

using namespace tunesmith;
using tunesmith_test::check;
using tunesmith_test::fmt;

namespace {

uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Φ⁻¹ in float64: Acklam's rational approximation refined by two Newton steps on erfc.
double normal_ppf(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  for (int i = 0; i < 2; ++i) {
    const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
    x -= e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  }
  return x;
}

// torch.linspace in float32 (ATen CPU: up from start for the first half, down from end after).
std::vector<float> linspace_f32(float start, float end, int steps) {
  const float step = (end - start) / float(steps - 1);
  std::vector<float> v;
  for (int i = 0; i < steps; ++i) v.push_back(i < steps / 2 ? start + step * float(i) : end - step * float(steps - i - 1));
  return v;
}

int nearest(const float* code, int count, float x) {  // argmin |x - code|, first on ties
  int best = 0;
  for (int i = 1; i < count; ++i)
    if (std::fabs(double(x) - code[i]) < std::fabs(double(x) - code[best])) best = i;
  return best;
}

// What bitsandbytes' dQuantize returns, characterised independently of its binary search: its
// seven comparisons only ever visit odd indices (127 ± 64 ± ... ± 2), it then picks the nearer of
// the two visited neighbours, so the result is the nearest entry among index 0, the odd indices
// and 254 (255 = 1.0 is replaced by 254).
int dynamic_nearest(const std::array<float, 256>& map, float x) {
  // NaN (0·inf when every scale equals the mean, e.g. one block): all comparisons fail, the search
  // descends to the pair (0, 1) and keeps the upper one. Dequantized it is code[1]·0 + offset.
  if (std::isnan(x)) return 1;
  int best = 0;
  auto consider = [&](int i) {
    if (std::fabs(double(x) - map[size_t(i)]) < std::fabs(double(x) - map[size_t(best)])) best = i;
  };
  for (int i = 1; i <= 253; i += 2) consider(i);
  consider(254);
  return best;
}

// Reference blockwise NF4 (+ double quantization) following the published algorithm step by step.
struct Reference {
  std::vector<uint8_t> codes4;  // one per element
  std::vector<uint8_t> codes8;
  std::vector<float> absmax, absmax2, values;
  float offset = 0;
};
Reference reference_quantize(const std::vector<float>& x, bool double_quant) {
  const std::array<float, 16>& lut = nf4_codebook();
  const std::array<float, 256>& map = dynamic_map_signed();
  Reference r;
  const size_t n = x.size(), blocks = (n + 63) / 64;
  for (size_t b = 0; b < blocks; ++b) {
    double m = 0;
    for (size_t i = b * 64; i < std::min(n, b * 64 + 64); ++i) m = std::max(m, std::fabs(double(x[i])));
    r.absmax.push_back(float(m));
    const float inv = float(1.0 / double(float(m)));  // the fp32 reciprocal the kernel multiplies by
    for (size_t i = b * 64; i < std::min(n, b * 64 + 64); ++i)
      r.codes4.push_back(uint8_t(nearest(lut.data(), 16, float(double(x[i]) * double(inv)))));
  }
  std::vector<float> scales = r.absmax;
  if (double_quant) {
    double sum = 0;
    for (float a : r.absmax) sum += a;
    r.offset = float(sum / double(blocks));
    std::vector<float> centered;
    for (float a : r.absmax) centered.push_back(float(double(a) - double(r.offset)));
    for (size_t b = 0; b * 256 < blocks; ++b) {
      double m = 0;
      for (size_t i = b * 256; i < std::min(blocks, b * 256 + 256); ++i) m = std::max(m, std::fabs(double(centered[i])));
      r.absmax2.push_back(float(m));
      const float inv = float(1.0 / double(float(m)));
      for (size_t i = b * 256; i < std::min(blocks, b * 256 + 256); ++i)
        r.codes8.push_back(uint8_t(dynamic_nearest(map, float(double(centered[i]) * double(inv)))));
    }
    for (size_t i = 0; i < blocks; ++i)
      scales[i] = float(double(float(double(map[r.codes8[i]]) * double(r.absmax2[i / 256]))) + double(r.offset));
  }
  for (size_t i = 0; i < n; ++i) r.values.push_back(float(double(lut[r.codes4[i]]) * double(scales[i / 64])));
  return r;
}

}  // namespace

int main() {
  const std::array<float, 16>& lut = nf4_codebook();
  {  // The codebook: bitsandbytes' literals, and create_normal_map(0.9677083) re-derived in float64.
    const float published[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                                 -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                                 0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f,
                                 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
                                 0.7229568362236023f, 1.0f};
    bool same = true;
    for (int i = 0; i < 16; ++i) same = same && bits(lut[size_t(i)]) == bits(published[i]);
    check(same, "NF4 codebook equals bitsandbytes' nf4_dequantization_lut bit for bit");

    std::vector<float> v;  // norm.ppf of float32 linspace points, stored as float32, sorted, / max
    for (float p : linspace_f32(0.9677083f, 0.5f, 9)) v.push_back(float(normal_ppf(p)));
    v.pop_back();
    std::vector<float> neg = linspace_f32(0.9677083f, 0.5f, 8);
    neg.pop_back();
    for (float p : neg) v.push_back(float(-normal_ppf(p)));
    v.push_back(0.0f);
    std::sort(v.begin(), v.end());
    const float vmax = v.back();
    double worst = 0;
    for (size_t i = 0; i < 16; ++i) worst = std::max(worst, std::fabs(double(v[i] / vmax) - double(lut[i])));
    check(worst <= 1.2e-7, "NF4 codebook re-derived from create_normal_map(offset=0.9677083)", "max diff " + fmt(worst));
  }
  {  // Thresholds are the midpoints, and the tree picks the nearest code everywhere else.
    const std::array<float, 15>& t = nf4_thresholds();
    // bitsandbytes' constants are midpoints taken before the codes were rounded to float, so they
    // sit within one float ulp of the midpoints of the float codes; the spec lists them to 7 digits.
    const double spec[15] = {-0.8480964, -0.6106329, -0.4599953, -0.3396794, -0.2346074, -0.1379117, -0.0455250,
                             0.0397901, 0.1202553, 0.2035213, 0.2920138, 0.3893125, 0.5016634, 0.6427869, 0.8614784};
    bool mid = true;
    for (int i = 0; i < 15; ++i) {
      const float m = float((double(lut[size_t(i)]) + double(lut[size_t(i + 1)])) / 2);
      mid = mid && std::fabs(double(t[size_t(i)]) - m) <= std::fabs(double(std::nextafter(m, 2.0f)) - m);
      mid = mid && std::fabs(double(t[size_t(i)]) - spec[i]) < 6e-8;
    }
    check(mid, "NF4 thresholds: the spec's midpoints, within one ulp of the float codes' midpoints");
    bool tree = true;
    for (int k = -120000; k <= 120000; ++k) {
      const float x = float(k) / 100000.0f;
      bool at_threshold = false;
      for (float th : t) at_threshold = at_threshold || x == th;
      if (!at_threshold && nf4_quantize_value(x) != nearest(lut.data(), 16, x)) tree = false;
    }
    bool edges = true;
    for (int i = 0; i < 15; ++i) {  // exactly on a threshold: '>' is strict, so the lower code
      edges = edges && nf4_quantize_value(t[size_t(i)]) == i;
      edges = edges && nf4_quantize_value(std::nextafter(t[size_t(i)], 2.0f)) == i + 1;
    }
    check(tree && edges, "dQuantizeNF4 tree == nearest code on a 240001-point grid; ties go to the lower code");
  }
  {  // Packing, by hand: absmax 1, codes 15 0 | 7 12 | 4 8 -> 0xF0 0x7C 0x48; odd tail pads with code(0)=7.
    const float x[6] = {1.0f, -1.0f, 0.0f, 0.5f, -0.25f, 0.09f};
    Nf4Tensor q = quantize_nf4(x, {2, 3}, false);
    check(q.packed.size() == 3 && q.packed[0] == 0xF0 && q.packed[1] == 0x7C && q.packed[2] == 0x48 && q.absmax[0] == 1.0f,
          "NF4 packing: first element in the high nibble (hand-made 2x3 tensor)");
    Nf4Tensor odd = quantize_nf4(x, {5}, false);
    check(odd.packed.size() == 3 && odd.packed[2] == 0x47, "NF4 packing of an odd length pads the low nibble with code(0)");
    std::vector<float> back(6);
    dequantize_nf4(q, back.data());
    check(back[0] == 1.0f && back[1] == -1.0f && back[2] == 0.0f && back[3] == lut[12] && back[5] == lut[8],
          "NF4 dequantize = LUT[code]·absmax");
  }
  const std::array<float, 256>& map = dynamic_map_signed();
  {  // create_dynamic_map(signed=True): 127 negatives, 0, 127 positives, 1.0; hand-derived entries.
    bool ascending = true, symmetric = true;
    for (int i = 1; i < 256; ++i) ascending = ascending && map[size_t(i)] > map[size_t(i - 1)];
    for (int k = 1; k <= 127; ++k) symmetric = symmetric && map[size_t(127 + k)] == -map[size_t(127 - k)];
    check(ascending && symmetric && map[127] == 0.0f && map[255] == 1.0f && map[0] == -map[254],
          "dynamic map: 256 ascending values, symmetric around 0, ends at 1.0");
    // i=0: linspace(0.1, 1, 2) = [0.1, 1]; one mean, times float(1e-6).
    const float smallest = float(1e-6) * ((0.1f + 1.0f) / 2.0f);
    // i=1: linspace(0.1, 1, 3) = [0.1, 1 - 0.45, 1]; scale float(1e-5).
    const float step1 = (1.0f - 0.1f) / 2.0f;
    const float i1_lo = float(1e-5) * ((0.1f + (1.0f - step1)) / 2.0f), i1_hi = float(1e-5) * (((1.0f - step1) + 1.0f) / 2.0f);
    // i=6: linspace(0.1, 1, 65): the last mean is (1 - step + 1) / 2, scale 1.
    const float step6 = (1.0f - 0.1f) / 64.0f;
    const float largest = ((1.0f - step6) + 1.0f) / 2.0f;
    check(map[128] == smallest && map[129] == i1_lo && map[130] == i1_hi && map[254] == largest,
          "dynamic map entries derived by hand from the formula", fmt(map[128]) + " " + fmt(map[254]));
    // float64 linspace gives the same values to float precision (only last-bit rounding differs).
    std::vector<double> d64;
    for (int i = 0; i < 7; ++i) {
      const int steps = (1 << i) + 1;
      for (int k = 0; k + 1 < steps; ++k) {
        const double a = 0.1 + 0.9 * k / (steps - 1), b = 0.1 + 0.9 * (k + 1) / (steps - 1);
        d64.push_back(std::pow(10.0, i - 6) * (a + b) / 2);
      }
    }
    std::sort(d64.begin(), d64.end());
    double worst = 0;
    for (int k = 0; k < 127; ++k) worst = std::max(worst, std::fabs(map[size_t(128 + k)] - d64[size_t(k)]) / d64[size_t(k)]);
    check(worst < 3e-7, "dynamic map agrees with a float64 evaluation of the formula", "max rel diff " + fmt(worst));
    Rng rng(5);
    bool ok = true;
    for (int k = 0; k < 200000; ++k) {
      const float x = float(rng.uniform() * 2.2 - 1.1) * float(std::pow(10.0, -6.0 * rng.uniform()));
      ok = ok && dynamic_quantize_value(map, x) == dynamic_nearest(map, x);
    }
    check(ok, "dQuantize binary search == nearest of {0, odd indices, 254} on 200000 random values");
    check(dynamic_quantize_value(map, 1.0f) == 254 && dynamic_quantize_value(map, map[2]) != 2,
          "dQuantize quirks kept: 1.0 -> 254, even entries 2..252 are never produced");
  }
  {  // Random tensors (odd sizes, several 256-blocks of scales) against the reference.
    Rng rng(11);
    for (bool dq : {false, true}) {
      for (int64_t n : {int64_t(64), int64_t(4096 + 64 * 7 + 3), int64_t(64 * 600)}) {
        std::vector<float> x(static_cast<size_t>(n));
        for (float& v : x) v = float(rng.normal() * (0.02 + rng.uniform()));
        if (n > 100) x[70] = 0.0f;  // an exact zero lands on code 7
        const Nf4Tensor q = quantize_nf4(x.data(), {n}, dq);
        const Reference ref = reference_quantize(x, dq);
        bool codes = true;
        for (int64_t i = 0; i < n; ++i) {
          const uint8_t byte = q.packed[size_t(i / 2)];
          codes = codes && ((i % 2 == 0) ? byte >> 4 : byte & 0xF) == ref.codes4[size_t(i)];
        }
        if (dq) {
          codes = codes && q.offset == ref.offset && q.absmax_q.absmax.size() == ref.absmax2.size();
          for (size_t b = 0; codes && b < ref.codes8.size(); ++b) codes = q.absmax_q.codes[b] == ref.codes8[b];
          for (size_t b = 0; codes && b < ref.absmax2.size(); ++b) codes = q.absmax_q.absmax[b] == ref.absmax2[b];
        }
        std::vector<float> back(static_cast<size_t>(n));
        dequantize_nf4(q, back.data());
        double worst = 0;
        for (int64_t i = 0; i < n; ++i)
          worst = std::max(worst, std::fabs(double(back[size_t(i)]) - ref.values[size_t(i)]) / (std::fabs(ref.values[size_t(i)]) + 1e-30));
        check(codes && worst <= 1e-7, std::string("quantize->dequantize vs float64 reference, n=") + std::to_string(n) +
                                          (dq ? ", double quant" : ""), "codes equal, max rel diff " + fmt(worst));
      }
    }
  }
  {  // Storage: 0.5 byte/param of codes + 1/64 byte of 8-bit scales + 4/(64·256) of fp32 second-level scales.
    const int64_t out = 1024, in = 1024;
    std::vector<float> w(size_t(out * in));
    Rng rng(3);
    for (float& v : w) v = float(rng.normal() * 0.02);
    const int64_t before = memory_stats().live_bytes;
    const Nf4Tensor q = quantize_nf4(w.data(), {out, in}, true);
    const int64_t counted = memory_stats().live_bytes - before;
    const double per_param = double(q.storage_bytes()) / double(out * in);
    check(per_param < 0.5160 && per_param > 0.5156 && counted == int64_t(q.storage_bytes()) - 4,
          "NF4 + double-quantized scales: bytes per parameter (tracked)", fmt(per_param) + " B/param, " +
                                                                             std::to_string(counted) + " bytes counted");
    const Nf4Tensor plain = quantize_nf4(w.data(), {out, in}, false);
    check(double(plain.storage_bytes()) / double(out * in) == 0.5625, "NF4 with fp32 scales: 0.5625 bytes per parameter");
  }
  return tunesmith_test::finish("test_nf4");
}
