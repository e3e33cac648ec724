// How much memory a fine-tuning run will need, before it starts: model shape × method × sequence
// length × batch × options → bytes, broken down into weights, gradients, optimizer state and
// activations. Pure TypeScript (the renderer bundles it for the live bar on the Method step; the
// CLI's `tunesmith estimate` prints it).
//
// For full fine-tuning (and the forward pass every method shares) the formulas mirror the engine's
// own allocations buffer by buffer (native/src/model/transformer.cpp, native/src/train/trainer.cpp),
// so the estimate agrees with the engine's peak-bytes counter. The engine is fp32 throughout: 4
// bytes per value. Methods the engine does not run yet (LoRA, QLoRA, LISA, zeroth-order) are
// estimated from the same activation model plus the standard accounting for their trainable
// parameters, and are labelled as such where they are shown.
import { parameterCount, type ModelShape } from './model-shape.js';

export const TRAIN_METHODS = ['lisa', 'qlora', 'lora', 'full', 'zo'] as const;
export type TrainMethod = (typeof TRAIN_METHODS)[number];

const FLOAT_BYTES = 4;
/** QLoRA's NF4 weights: 4 bits per value plus one fp32 scale per block of 64 values. */
const NF4_BYTES_PER_PARAM = 0.5 + FLOAT_BYTES / 64;

export interface EstimateInput {
  shape: ModelShape;
  method: TrainMethod;
  /** Tokens per sequence: the longest (padded) row of a micro-batch, at most the run's seqLen. */
  seqLen: number;
  batchSize: number;
  optimizer?: 'adamw' | 'sgd';
  checkpointing?: boolean;
  /** LoRA/QLoRA adapter rank r. */
  loraRank?: number;
  /** LISA: decoder layers trained at a time (γ). */
  lisaLayers?: number;
}

export interface MemoryEstimate {
  weights: number;
  gradients: number;
  optimizer: number;
  activations: number;
  total: number;
  /** Parameters the method updates. */
  trainableParams: number;
  totalParams: number;
}

/** The seven adapted projections of one layer: r × (in + out) values each for A and B. */
function loraParamsPerLayer(s: ModelShape, rank: number): number {
  const H = s.hiddenSize;
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  const I = s.intermediateSize;
  return rank * ((H + q) + 2 * (H + kv) + (q + H) + 2 * (H + I) + (I + H));
}

/**
 * Floats the forward and backward passes hold for one micro-batch of n = batch × seq tokens.
 * `training`: backward follows, so every layer's activations are kept (unless checkpointing
 * recomputes them) and the backward scratch is allocated.
 */
function activationFloats(s: ModelShape, batch: number, seq: number, training: boolean, checkpointing: boolean): number {
  const n = batch * seq;
  const H = s.hiddenSize;
  const I = s.intermediateSize;
  const L = s.numLayers;
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  // LayerActivations: ln1, rstd1, q, k, v, probs (batch × heads × seq × seq), att, mid, ln2, rstd2,
  // gate, up, h.
  const perLayer = n * (H + 1 + q + kv + kv + q + H + H + 1 + 3 * I) + batch * s.numHeads * seq * seq;
  // One set per layer on the stored training path; one shared set when checkpointing or inferring.
  const layerSets = training && !checkpointing ? L : 1;
  // layer_inputs_ (L + 1 residual streams), final_norm_, final_rstd_, logits_ (n × vocab), nll_.
  const stream = (L + 1) * n * H + n * H + n + n * s.vocabSize + n;
  if (!training) return layerSets * perLayer + stream;
  // Backward scratch: dx_a, dx_b, dmid, dln (n × H each), datt, dq (n × q), dk, dv (n × kv),
  // dh, dgate, dup (n × I), and the recomputed layer output when checkpointing.
  const backward = 4 * n * H + 2 * n * q + 2 * n * kv + 3 * n * I + (checkpointing ? n * H : 0);
  return layerSets * perLayer + stream + backward;
}

export function estimateTrainingMemory(input: EstimateInput): MemoryEstimate {
  const s = input.shape;
  const counts = parameterCount(s);
  const P = counts.total;
  const optimizer = input.optimizer ?? 'adamw';
  const checkpointing = input.checkpointing ?? false;
  // AdamW keeps two moments per trained value; the engine's SGD always keeps a momentum buffer.
  const optimizerFloatsPer = optimizer === 'adamw' ? 2 : 1;
  const seq = Math.max(1, input.seqLen);
  const batch = Math.max(1, input.batchSize);

  let weights = P * FLOAT_BYTES;
  let trainable: number;
  let activations = activationFloats(s, batch, seq, true, checkpointing) * FLOAT_BYTES;
  switch (input.method) {
    case 'full':
      trainable = P;
      break;
    case 'lisa': {
      // LISA trains the embedding and head always plus γ randomly chosen layers per period; only
      // those get gradients and optimizer state. Backward may reach the first layer, so the
      // activations are those of full fine-tuning.
      const gamma = Math.min(s.numLayers, Math.max(1, input.lisaLayers ?? 2));
      trainable = counts.embedding + counts.head + counts.finalNorm + gamma * counts.perLayer;
      break;
    }
    case 'lora':
    case 'qlora': {
      const rank = Math.max(1, input.loraRank ?? 16);
      trainable = s.numLayers * loraParamsPerLayer(s, rank);
      if (input.method === 'qlora') {
        // Projection matrices stored as NF4; embeddings, head and norms stay fp32.
        const linear = s.numLayers * counts.perLayerLinear;
        weights = (P - linear) * FLOAT_BYTES + linear * NF4_BYTES_PER_PARAM;
        // Plus one projection dequantized to fp32 at a time for the matmul.
        const q = s.numHeads * s.headDim;
        weights += Math.max(s.intermediateSize * s.hiddenSize, q * s.hiddenSize) * FLOAT_BYTES;
      }
      // Each adapter keeps its rank-r intermediate (x·Aᵀ) per token for backward.
      const layerSets = checkpointing ? 1 : s.numLayers;
      activations += layerSets * 7 * batch * seq * rank * FLOAT_BYTES;
      break;
    }
    case 'zo':
      // Zeroth-order (MeZO): two forward passes with seeded perturbations regenerated in place; no
      // gradients, no optimizer state, inference-sized activations.
      trainable = P;
      activations = activationFloats(s, batch, seq, false, false) * FLOAT_BYTES;
      return finish({ weights, gradients: 0, optimizer: 0, activations, trainableParams: trainable, totalParams: P });
  }
  const gradients = trainable * FLOAT_BYTES;
  const optimizerBytes = trainable * optimizerFloatsPer * FLOAT_BYTES;
  return finish({ weights, gradients, optimizer: optimizerBytes, activations, trainableParams: trainable, totalParams: P });
}

function finish(e: Omit<MemoryEstimate, 'total'>): MemoryEstimate {
  return { ...e, total: e.weights + e.gradients + e.optimizer + e.activations };
}

export interface FitCheck {
  fits: boolean;
  estimate: MemoryEstimate;
  budget: number;
  /** When it does not fit: the nearest settings that do, in words ("batch size 2"), or null if none found. */
  suggestion: string | null;
}

/**
 * Does the run fit in `budget` bytes? If not, tries the least disruptive changes in order —
 * smaller batch, gradient checkpointing, shorter sequences, then QLoRA — and names the first that fits.
 */
export function checkFit(input: EstimateInput, budget: number): FitCheck {
  const estimate = estimateTrainingMemory(input);
  if (estimate.total <= budget) return { fits: true, estimate, budget, suggestion: null };
  const fits = (changes: Partial<EstimateInput>): boolean => estimateTrainingMemory({ ...input, ...changes }).total <= budget;
  for (let b = Math.floor(input.batchSize / 2); b >= 1; b = Math.floor(b / 2)) {
    if (fits({ batchSize: b })) return { fits: false, estimate, budget, suggestion: `batch size ${b} (raise gradient accumulation to keep the effective batch)` };
  }
  if (!input.checkpointing && input.method !== 'zo') {
    if (fits({ checkpointing: true })) return { fits: false, estimate, budget, suggestion: 'gradient checkpointing on' };
    if (fits({ checkpointing: true, batchSize: 1 })) return { fits: false, estimate, budget, suggestion: 'gradient checkpointing on and batch size 1' };
  }
  for (let seq = Math.floor(input.seqLen / 2); seq >= 32; seq = Math.floor(seq / 2)) {
    if (fits({ seqLen: seq, batchSize: 1 })) return { fits: false, estimate, budget, suggestion: `sequence length ${seq} with batch size 1` };
  }
  // The weights themselves are too big: only 4-bit weights help.
  if (input.method !== 'qlora' && input.method !== 'zo') {
    if (fits({ method: 'qlora' })) return { fits: false, estimate, budget, suggestion: 'QLoRA (4-bit base weights)' };
    if (fits({ method: 'qlora', batchSize: 1, checkpointing: true })) return { fits: false, estimate, budget, suggestion: 'QLoRA with batch size 1 and gradient checkpointing' };
  }
  return { fits: false, estimate, budget, suggestion: null };
}
