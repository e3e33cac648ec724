#include "train/zo_perturbation.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace tunesmith {
namespace {

// Order-preserving map from a float's bits to an unsigned integer: adjacent floats have adjacent
// keys (−0 and +0 are distinct neighbours), so "k ulps away" is key arithmetic.
template <typename T>
struct FloatKey;
template <>
struct FloatKey<float> {
  using U = uint32_t;
  static constexpr U kSign = 0x80000000u;
};
template <>
struct FloatKey<double> {
  using U = uint64_t;
  static constexpr U kSign = 0x8000000000000000ull;
};

template <typename T>
typename FloatKey<T>::U to_key(T x) {
  using U = typename FloatKey<T>::U;
  U u;
  std::memcpy(&u, &x, sizeof u);
  return (u & FloatKey<T>::kSign) ? U(~u) : U(u | FloatKey<T>::kSign);
}

template <typename T>
T from_key(typename FloatKey<T>::U k) {
  using U = typename FloatKey<T>::U;
  const U u = (k & FloatKey<T>::kSign) ? U(k & ~FloatKey<T>::kSign) : U(~k);
  T x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

constexpr int8_t kEscape = -128;

}  // namespace

template <typename T>
void displace(ThreadPool& pool, TrainableView<T>& view, const Direction& direction) {
  for_each_view_element(pool, view, [&](int64_t i, T& theta) { theta = theta + T(direction_value(direction, uint64_t(i))); });
}

template <typename T>
void ExactDisplacement<T>::apply(ThreadPool& pool, TrainableView<T>& view, const Direction& direction) {
  if (pending_) throw Error("ZO perturbation: apply() called twice without undo()");
  direction_ = direction;
  codes_.resize(size_t(view.total()));
  exceptions_.clear();
  int8_t* codes = codes_.data();
  for_each_view_element(pool, view, [&](int64_t i, T& theta) {
    const T e = T(direction_value(direction_, uint64_t(i)));
    const T perturbed = theta + e;
    const T naive_restore = perturbed - e;
    const int64_t distance = int64_t(to_key(theta) - to_key(naive_restore));  // wraps to the signed difference
    if (distance >= -127 && distance <= 127) {
      codes[i] = int8_t(distance);
    } else {
      codes[i] = kEscape;
      std::lock_guard<std::mutex> lock(exceptions_mutex_);
      exceptions_.emplace_back(i, theta);
    }
    theta = perturbed;
  });
  std::sort(exceptions_.begin(), exceptions_.end(),
            [](const std::pair<int64_t, T>& a, const std::pair<int64_t, T>& b) { return a.first < b.first; });
  pending_ = true;
}

template <typename T>
void ExactDisplacement<T>::undo(ThreadPool& pool, TrainableView<T>& view) {
  if (!pending_) throw Error("ZO perturbation: undo() without a pending apply()");
  if (size_t(view.total()) != codes_.size()) throw Error("ZO perturbation: the view changed size between apply and undo");
  using U = typename FloatKey<T>::U;
  const int8_t* codes = codes_.data();
  for_each_view_element(pool, view, [&](int64_t i, T& theta) {
    if (codes[i] == kEscape) {
      const auto it = std::lower_bound(exceptions_.begin(), exceptions_.end(), i,
                                       [](const std::pair<int64_t, T>& a, int64_t idx) { return a.first < idx; });
      theta = it->second;
      return;
    }
    const T e = T(direction_value(direction_, uint64_t(i)));
    theta = from_key<T>(U(to_key(T(theta - e)) + U(int64_t(codes[i]))));
  });
  pending_ = false;
}

template void displace<float>(ThreadPool&, TrainableView<float>&, const Direction&);
template void displace<double>(ThreadPool&, TrainableView<double>&, const Direction&);
template class ExactDisplacement<float>;
template class ExactDisplacement<double>;

}  // namespace tunesmith
