// Shared pieces for the float kernels that are compiled twice (baseline ISA and AVX2+FMA, picked at
// run time by CPU feature): the feature test and an 8-wide exp. Only included by .cpp files in cpu/.
#pragma once
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"  // vec8 by value only in always_inline helpers
#endif
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace tunesmith {
namespace cpu {

#if defined(__GNUC__)
#define TUNESMITH_SIMD 1
typedef float vec8 __attribute__((vector_size(32)));
typedef int32_t ivec8 __attribute__((vector_size(32)));

// TUNESMITH_CPU_BASELINE=1 forces the baseline kernels (to test them on an AVX2 machine).
inline bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          std::getenv("TUNESMITH_CPU_BASELINE") == nullptr;
  return has;
#else
  return false;
#endif
}

__attribute__((always_inline)) inline vec8 vload(const float* p) {
  vec8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
__attribute__((always_inline)) inline void vstore(float* p, vec8 v) { std::memcpy(p, &v, sizeof v); }
__attribute__((always_inline)) inline vec8 vsplat(float x) { return vec8{x, x, x, x, x, x, x, x}; }
__attribute__((always_inline)) inline vec8 vmax(vec8 a, vec8 b) { return a > b ? a : b; }
__attribute__((always_inline)) inline vec8 vmin(vec8 a, vec8 b) { return a < b ? a : b; }
__attribute__((always_inline)) inline float hmax(vec8 v) {
  float m = v[0];
  for (int i = 1; i < 8; ++i) m = m > v[i] ? m : v[i];
  return m;
}

// e^x for 8 floats, Cephes-style: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial,
// 2^n through the exponent bits. Relative error ≈ 1-2 ulp on [-87.3, 88]; outside, the input is
// clamped (so below -87.3 it returns ~1.2e-38 rather than 0, above 88 ~1.7e38 rather than inf).
__attribute__((always_inline)) inline vec8 vexp(vec8 x) {
  // Clamp written so NaN passes through (comparisons with NaN are false), to keep a diverged
  // loss visible.
  const vec8 lo = vsplat(-87.33654f), hi = vsplat(88.0f);
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const vec8 magic = vsplat(12582912.0f);  // 1.5 · 2^23: adding it rounds to an integer
  vec8 t = x * vsplat(1.44269504088896341f) + magic;
  const vec8 n = t - magic;
  vec8 r = x - n * vsplat(0.693359375f);
  r = r - n * vsplat(-2.12194440e-4f);
  vec8 p = vsplat(1.9875691500e-4f);
  p = p * r + vsplat(1.3981999507e-3f);
  p = p * r + vsplat(8.3334519073e-3f);
  p = p * r + vsplat(4.1665795894e-2f);
  p = p * r + vsplat(1.6666665459e-1f);
  p = p * r + vsplat(5.0000001201e-1f);
  p = p * r * r + r + vsplat(1.0f);
  // 2^n: n is integral in [-126, 127], a normal float built from its exponent bits.
  ivec8 ni = __builtin_convertvector(n, ivec8);
  ivec8 bits = (ni + 127) << 23;
  vec8 scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
#endif

}  // namespace cpu
}  // namespace tunesmith
