// A training spec as the memory estimator sees it: the engine's method name mapped to its family,
// LoRA target presets expanded to projections, the zeroth-order variant and target passed on.
// Pure TypeScript: the Method step (live bar), jobs.start (the server-side refusal) and the CLI
// share it, so they cannot disagree about whether a run fits.
import { methodFamily, type TrainSpec } from '../api/contract.js';
import type { EstimateInput, LoraSlot, ZoVariant } from './memory-estimate.js';
import type { ModelShape } from './model-shape.js';

/** LoRA target presets as the projections they cover (the engine's native/src/train/lora.cpp). */
const LORA_TARGET_PRESETS: Record<'attention' | 'all-linear' | 'qv', LoraSlot[]> = {
  attention: ['q', 'k', 'v', 'o'],
  'all-linear': ['q', 'k', 'v', 'o', 'gate', 'up', 'down'],
  qv: ['q', 'v'],
};

/** The projections a spec's LoRA targets name: a preset expanded, or the list itself. */
export function expandLoraTargets(targets: TrainSpec['loraTargets']): readonly LoraSlot[] {
  return typeof targets === 'string' ? LORA_TARGET_PRESETS[targets] : targets;
}

export type EstimatedSpec = Pick<
  TrainSpec,
  | 'method'
  | 'seqLen'
  | 'batchSize'
  | 'optimizer'
  | 'checkpointing'
  | 'loraR'
  | 'loraTargets'
  | 'loraDropout'
  | 'loraTrainEmbeddings'
  | 'loraTrainHead'
  | 'lisaGamma'
  | 'zoTarget'
>;

/** `longestSequence`: tokens of the dataset's longest example when known (micro-batches pad to their longest row). */
export function estimateInputForSpec(spec: EstimatedSpec, shape: ModelShape, longestSequence?: number | null): EstimateInput {
  const family = methodFamily(spec.method);
  const seqLen = Math.max(2, Math.min(spec.seqLen, shape.maxPositionEmbeddings, longestSequence ?? spec.seqLen));
  return {
    shape,
    method: family,
    seqLen,
    batchSize: spec.batchSize,
    optimizer: spec.optimizer,
    checkpointing: spec.checkpointing,
    loraRank: spec.loraR,
    loraTargets: expandLoraTargets(spec.loraTargets),
    loraDropout: spec.loraDropout,
    loraTrainEmbeddings: spec.loraTrainEmbeddings,
    loraTrainHead: spec.loraTrainHead,
    lisaLayers: spec.lisaGamma,
    zoMethod: family === 'zo' ? (spec.method as ZoVariant) : undefined,
    zoTarget: spec.zoTarget,
  };
}
