#include "model/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace tunesmith {

int32_t choose_next_token(const float* logits, int64_t vocab, const SamplingOptions& o, Rng& rng) {
  if (o.temperature <= 0.0) {
    // Greedy; ties go to the lowest id, as torch.argmax does.
    int64_t best = 0;
    for (int64_t j = 1; j < vocab; ++j)
      if (logits[j] > logits[best]) best = j;
    return int32_t(best);
  }
  std::vector<int32_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  int64_t keep = vocab;
  if (o.top_k > 0) keep = std::min<int64_t>(keep, o.top_k);
  std::vector<double> probs(static_cast<size_t>(keep));
  const double max_logit = double(logits[order[0]]) / o.temperature;
  double sum = 0.0;
  for (int64_t i = 0; i < keep; ++i) {
    probs[size_t(i)] = std::exp(double(logits[order[size_t(i)]]) / o.temperature - max_logit);
    sum += probs[size_t(i)];
  }
  if (o.top_p < 1.0) {
    // Keep the smallest prefix (by descending probability) whose mass reaches top_p; at least one.
    double cumulative = 0.0;
    int64_t cut = keep;
    for (int64_t i = 0; i < keep; ++i) {
      cumulative += probs[size_t(i)] / sum;
      if (cumulative >= o.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = std::max<int64_t>(1, cut);
    sum = 0.0;
    for (int64_t i = 0; i < keep; ++i) sum += probs[size_t(i)];
  }
  double u = rng.uniform() * sum;
  for (int64_t i = 0; i < keep; ++i) {
    u -= probs[size_t(i)];
    if (u < 0.0) return order[size_t(i)];
  }
  return order[size_t(keep - 1)];
}

}  // namespace tunesmith
