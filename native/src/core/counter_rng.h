// Counter-based (stateless) random draws for zeroth-order perturbations. Value i of stream `key`
// is a pure function of (key, i): the SplitMix64 output function applied to the Weyl sequence
// key + (i+1)·γ. So a perturbation z is never stored: any element of it regenerates on demand, in
// any order, on any thread, and a CUDA kernel can produce the same bits from the same formula.
// (The normal transform uses std::log/std::cos in double; libm differences of one ulp in the last
// float bit across platforms are possible, but a given build is deterministic.)
#pragma once
#include <cmath>
#include <cstdint>

namespace tunesmith {

constexpr uint64_t kWeylGamma = 0x9E3779B97F4A7C15ull;

inline uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// One stream key per (seed, step, query): the same triple always yields the same perturbation.
inline uint64_t perturbation_key(uint64_t seed, int64_t step, int64_t query) {
  uint64_t k = splitmix64_mix(seed + kWeylGamma);
  k = splitmix64_mix(k ^ (uint64_t(step) * 0xD1B54A32D192ED03ull));
  return splitmix64_mix(k ^ (uint64_t(query) * 0x8CB92BA72F3D8DD7ull + 1));
}

inline uint64_t counter_u64(uint64_t key, uint64_t index) { return splitmix64_mix(key + (index + 1) * kWeylGamma); }

// Standard normal from one 64-bit draw: Box-Muller on its two 32-bit halves (u1 in (0, 1), so the
// logarithm is finite).
inline float counter_normal(uint64_t key, uint64_t index) {
  const uint64_t h = counter_u64(key, index);
  const double u1 = (double(h >> 32) + 0.5) * (1.0 / 4294967296.0);
  const double u2 = double(h & 0xFFFFFFFFull) * (1.0 / 4294967296.0);
  return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace tunesmith
