// In-place perturbation of a trainable view along a seeded random direction, with exact undo.
//
// MeZO perturbs θ in place (θ+εz, then −2εz, then +εz) to keep memory at inference level, but in
// floating point that sequence does not return θ: fl(fl(θ+e)−e) ≠ θ whenever rounding loses bits
// of θ (e.g. |θ+e| lands in a larger binade). We make the restore exact instead: while applying
// θ' = fl(θ + e) we record, per element, how far (in units in the last place) the naive inverse
// fl(θ' − e) lands from θ. That distance is almost always within ±127, so it fits an int8 code;
// the rare element where it does not (|θ| far below |e|) keeps its original value in a sparse
// exception list. undo() recomputes fl(θ' − e), steps by the code and gets θ back bit for bit.
// Cost: one byte per trainable element (a quarter of an fp32 copy), no gradient, no copy of θ.
#pragma once
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "core/counter_rng.h"
#include "core/memory.h"
#include "cpu/thread_pool.h"
#include "train/trainable_view.h"

namespace tunesmith {

// One term of a direction: coef · z(key). A direction is a sum of terms, so q averaged queries or
// a step along the ZO gradient estimate are directions too.
struct DirectionTerm {
  uint64_t key = 0;
  double coef = 0.0;
};
using Direction = std::vector<DirectionTerm>;

// e_i = Σ coef·z(key, i), summed in double and rounded once; the same value every time.
inline double direction_value(const Direction& d, uint64_t index) {
  double e = 0.0;
  for (const DirectionTerm& t : d) e += t.coef * double(counter_normal(t.key, index));
  return e;
}

// θ ← fl(θ + e) over the view, no undo information (used for optimizer updates).
template <typename T>
void displace(ThreadPool& pool, TrainableView<T>& view, const Direction& direction);

template <typename T>
class ExactDisplacement {
 public:
  // θ ← fl(θ + e), remembering what undo() needs. Throws if a displacement is already pending.
  void apply(ThreadPool& pool, TrainableView<T>& view, const Direction& direction);
  // Restores the θ seen by apply(), bit for bit. The view must not have been changed in between.
  void undo(ThreadPool& pool, TrainableView<T>& view);
  bool pending() const { return pending_; }
  // Elements of the last apply() whose restore needed the exception list.
  int64_t exception_count() const { return int64_t(exceptions_.size()); }
  // Releases the code buffer (one byte per element).
  void release() { codes_.release(); }

 private:
  Direction direction_;
  TrackedBuffer<int8_t> codes_;
  std::vector<std::pair<int64_t, T>> exceptions_;  // (element index, original value), sorted
  std::mutex exceptions_mutex_;
  bool pending_ = false;
};

}  // namespace tunesmith
