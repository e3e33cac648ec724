// The engine Trainer's options for a training spec: which trainer (full, LISA, zeroth-order) and
// its hyper-parameters.
import { ZO_METHODS, type TrainSpec } from '../api/contract.js';
import type { TrainerOptions } from '../engine/native.js';

export function engineTrainerOptions(spec: TrainSpec): TrainerOptions {
  const common: TrainerOptions = {
    lr: spec.lr,
    weightDecay: spec.weightDecay,
    momentum: spec.momentum,
    schedule: spec.schedule,
    warmupSteps: spec.warmupSteps,
    totalSteps: spec.steps,
    seed: spec.seed,
  };
  if (ZO_METHODS.includes(spec.method)) {
    // ZO-SGD-MMT is SGD with momentum on the ZO estimate; the others take none.
    const momentum = spec.method === 'zo-sgd-mmt' ? spec.momentum || 0.9 : 0;
    return { ...common, method: 'zo', zoMethod: spec.method, zoEps: spec.zoEps, zoQueries: spec.zoQueries, zoOneSided: spec.zoOneSided, momentum };
  }
  const firstOrder = { ...common, optimizer: spec.optimizer, maxGradNorm: spec.maxGradNorm };
  if (spec.method === 'lisa') return { ...firstOrder, method: 'lisa', lisaGamma: spec.lisaGamma, lisaPeriod: spec.lisaPeriod };
  return { ...firstOrder, method: 'full' };
}
