// Learning-rate schedules as multipliers of the base rate, matching transformers'
// get_constant_schedule, get_constant_schedule_with_warmup and get_cosine_schedule_with_warmup.
// `step` is the scheduler's count of completed optimizer steps (0 for the first step, so with
// warmup the very first update uses lr 0, exactly as in a transformers training loop).
#pragma once
#include <cstdint>

namespace tunesmith {

struct ScheduleOptions {
  enum class Kind { Constant, ConstantWithWarmup, Cosine };
  Kind kind = Kind::Constant;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // cosine only
  double num_cycles = 0.5;  // cosine only: 0.5 = decay to 0 once
};

double schedule_lr_factor(const ScheduleOptions& options, int64_t step);

}  // namespace tunesmith
