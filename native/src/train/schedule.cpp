#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace tunesmith {

double schedule_lr_factor(const ScheduleOptions& o, int64_t step) {
  switch (o.kind) {
    case ScheduleOptions::Kind::Constant:
      return 1.0;
    case ScheduleOptions::Kind::ConstantWithWarmup:
      if (step < o.warmup_steps) return double(step) / double(std::max<int64_t>(1, o.warmup_steps));
      return 1.0;
    case ScheduleOptions::Kind::Cosine: {
      if (step < o.warmup_steps) return double(step) / double(std::max<int64_t>(1, o.warmup_steps));
      const double progress = double(step - o.warmup_steps) / double(std::max<int64_t>(1, o.total_steps - o.warmup_steps));
      return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * o.num_cycles * 2.0 * progress)));
    }
  }
  return 1.0;
}

}  // namespace tunesmith
