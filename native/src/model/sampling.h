// Next-token choice for generation: greedy, or sampling with temperature, top-k and top-p
// (applied in that order, as transformers' logits warpers do) from a seeded RNG.
#pragma once
#include <cstdint>

#include "core/rng.h"

namespace tunesmith {

struct SamplingOptions {
  double temperature = 0.0;  // <= 0: greedy (argmax)
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // >= 1: off
};

int32_t choose_next_token(const float* logits, int64_t vocab, const SamplingOptions& options, Rng& rng);

}  // namespace tunesmith
