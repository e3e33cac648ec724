// The engine's options for a training spec: the LoRA adapters to attach (LoRA, QLoRA, zeroth-order
// over LoRA), which trainer (full, LISA, zeroth-order) and its hyper-parameters. LoRA needs no
// trainer of its own: once adapters are attached, the model's trainable parameters are the adapters
// and the ordinary trainer steps those.
import { usesAdapter, ZO_METHODS, type TrainSpec } from '../api/contract.js';
import type { LoraOptions, TrainerOptions } from '../engine/native.js';

export function engineLoraOptions(spec: TrainSpec): LoraOptions | null {
  if (!usesAdapter(spec)) return null;
  return {
    targets: spec.loraTargets,
    r: spec.loraR,
    alpha: spec.loraAlpha,
    rslora: spec.loraRslora,
    dropout: spec.loraDropout,
    trainEmbeddings: spec.loraTrainEmbeddings,
    trainHead: spec.loraTrainHead,
    quantizeNf4: spec.method === 'qlora',
    seed: spec.seed,
  };
}

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
