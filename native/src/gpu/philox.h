// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a counter-
// based generator, so any element's random number is a pure function of (seed, stream, index).
// That is what lets a ZO perturbation z be regenerated from its seed instead of stored, and a
// dropout mask be recomputed bit-identically when a checkpointed layer runs forward again.
// Host and device share this code (tests compute references with it on the CPU).
#pragma once
#include <cstdint>

#include "gpu/dialect.h"

namespace tunesmith::gpu {

struct Philox4 {
  uint32_t v[4];
};

TS_HOST_DEVICE uint32_t philox_mulhi(uint32_t a, uint32_t b) {
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
}

TS_HOST_DEVICE Philox4 philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = philox_mulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const uint32_t hi1 = philox_mulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Four 32-bit random words for element `index` of `stream` under `seed`.
TS_HOST_DEVICE Philox4 philox_bits(uint64_t seed, uint32_t stream, uint64_t index) {
  return philox4x32(static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), stream, 0u,
                    static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Uniform in (0, 1]: never 0, so log() is safe.
TS_HOST_DEVICE float philox_uniform(uint32_t bits) { return (static_cast<float>(bits >> 8) + 1.0f) * (1.0f / 16777216.0f); }

// A standard normal for element `index` (Box-Muller on the first two words).
TS_HOST_DEVICE float philox_normal(uint64_t seed, uint32_t stream, uint64_t index) {
  const Philox4 r = philox_bits(seed, stream, index);
  const float u1 = philox_uniform(r.v[0]);
  const float u2 = philox_uniform(r.v[1]);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
}

// Streams: which purpose a draw is for, so two uses of one seed never share numbers.
enum PhiloxStream : uint32_t {
  kStreamInit = 1,          // random initialisation of weights (benchmarks)
  kStreamPerturbation = 2,  // ZO's z, indexed by the parameter's flat offset in the model layout
  kStreamDropout = 3,
  kStreamRounding = 4,      // stochastic rounding of bf16 updates
};

}  // namespace tunesmith::gpu
