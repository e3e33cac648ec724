// How much memory a fine-tuning run will need, before it starts: model shape × method × sequence
// length × batch × options → bytes, broken down into weights, gradients, optimizer state and
// activations. Pure TypeScript (the renderer bundles it for the live bar on the Method step; the
// CLI's `tunesmith estimate` and the server-side check in jobs.start use it too).
//
// The formulas mirror the engine's own allocations buffer by buffer (native/src/model/transformer.cpp,
// native/src/train/{trainer,lisa,lora,zo,zo_perturbation}.cpp, native/src/quant/nf4.cpp), so the
// estimate agrees with the engine's peak-bytes counter for every method. The engine is fp32
// throughout: 4 bytes per value; QLoRA's frozen projections are NF4 with double-quantized scales.
import { estimateGpuTrainingMemory } from './gpu-memory-estimate.js';
import { parameterCount, type ModelShape } from './model-shape.js';

/** The estimator's method families (the zeroth-order variants differ only in their state: zoMethod). */
export const TRAIN_METHODS = ['lisa', 'qlora', 'lora', 'full', 'zo'] as const;
export type TrainMethod = (typeof TRAIN_METHODS)[number];

export const LORA_SLOTS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LoraSlot = (typeof LORA_SLOTS)[number];
export type ZoVariant = 'zo-sgd' | 'zo-sgd-sign' | 'zo-sgd-mmt' | 'zo-sgd-cons' | 'zo-adam' | 'forward-grad';

const FLOAT_BYTES = 4;

export interface EstimateInput {
  shape: ModelShape;
  /** Which engine runs it: the fp32 CPU engine (default) or the bf16 CUDA engine (gpu-memory-estimate.ts). */
  device?: 'cpu' | 'cuda';
  /** CUDA full/LISA: AdamW moments stored as bf16 (4 bytes per trained value instead of 8). */
  bf16OptimizerStates?: boolean;
  method: TrainMethod;
  /** Tokens per sequence: the longest (padded) row of a micro-batch, at most the run's seqLen. */
  seqLen: number;
  batchSize: number;
  optimizer?: 'adamw' | 'sgd';
  checkpointing?: boolean;
  /** LoRA/QLoRA (and zeroth-order over LoRA): adapter rank r (default 16). */
  loraRank?: number;
  /** Projections that get an adapter (default all seven). */
  loraTargets?: readonly LoraSlot[];
  /** Dropout on the adapter input (default 0.05): it needs two input-sized scratch buffers. */
  loraDropout?: number;
  loraTrainEmbeddings?: boolean;
  loraTrainHead?: boolean;
  /** LISA: decoder layers trained at a time (γ). */
  lisaLayers?: number;
  /** Zeroth-order: the variant (its optimizer state) and what it perturbs. */
  zoMethod?: ZoVariant;
  zoTarget?: 'all' | 'lora';
}

export interface MemoryEstimate {
  /** Model weights (fp32, or NF4 projections for QLoRA) plus adapter parameters. */
  weights: number;
  gradients: number;
  /** Optimizer state: AdamW moments, SGD momentum, zeroth-order probe codes and method state. */
  optimizer: number;
  /** Activations and scratch of one micro-batch. */
  activations: number;
  /** The run's peak: the steady state, or loading when that is higher (QLoRA quantizes after an fp32 load). */
  total: number;
  /** CUDA: what the driver holds beyond the engine's buffers (context, cuBLAS), included in total. */
  runtimeOverhead?: number;
  /** QLoRA: bytes held while the fp32 weights are quantized at load (null for other methods). */
  loadPeak: number | null;
  /** Parameters the method updates. */
  trainableParams: number;
  totalParams: number;
}

/** [in, out] of each projection of a layer (native/src/model/linear_override.h's linear_slot_shape). */
export function slotShapes(s: ModelShape): Record<LoraSlot, [number, number]> {
  const H = s.hiddenSize;
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  const I = s.intermediateSize;
  return { q: [H, q], k: [H, kv], v: [H, kv], o: [q, H], gate: [H, I], up: [H, I], down: [I, H] };
}

/** Bytes of one NF4 tensor with double-quantized scales: 4-bit codes, an 8-bit code per 64-block, an fp32 scale per 256 blocks. */
function nf4Bytes(numel: number): number {
  const blocks = Math.ceil(numel / 64);
  return Math.ceil(numel / 2) + blocks + Math.ceil(blocks / 256) * FLOAT_BYTES;
}

interface LoraShape {
  /** Adapter parameters (A and B of every targeted projection). */
  adapter: number;
  /** Base parameters trained in full alongside (embedding and/or head). */
  base: number;
  maxIn: number;
  maxOut: number;
}

function loraShape(s: ModelShape, input: EstimateInput, counts: ReturnType<typeof parameterCount>): LoraShape {
  const rank = Math.max(1, input.loraRank ?? 16);
  const shapes = slotShapes(s);
  const targets = input.loraTargets?.length ? input.loraTargets : LORA_SLOTS;
  let perLayer = 0;
  let maxIn = 0;
  let maxOut = 0;
  for (const t of targets) {
    const [inp, out] = shapes[t];
    perLayer += rank * (inp + out);
    maxIn = Math.max(maxIn, inp);
    maxOut = Math.max(maxOut, out);
  }
  // A tied head is the embedding tensor: training either trains that one tensor.
  const embedding = input.loraTrainEmbeddings || (input.loraTrainHead && s.tieWordEmbeddings) ? counts.embedding : 0;
  const head = input.loraTrainHead && !s.tieWordEmbeddings ? counts.head : 0;
  return { adapter: s.numLayers * perLayer, base: embedding + head, maxIn, maxOut };
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

/** Forward-gradient's tangent-carrying forward: every activation twice, for one layer at a time, plus logits and their tangent. */
function forwardGradFloats(s: ModelShape, batch: number, seq: number): number {
  const n = batch * seq;
  const H = s.hiddenSize;
  const I = s.intermediateSize;
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  const probs = batch * s.numHeads * seq * seq;
  return 2 * n * (4 * H + 2 * q + 2 * kv + 3 * I) + n + 2 * probs + 2 * n * s.vocabSize + n;
}

/** Scratch of the LoRA linears: x·Aᵀ and its gradient (n × r), the update (n × out), and with dropout the dropped input and its gradient. */
function loraScratchFloats(n: number, rank: number, lora: LoraShape, dropout: number, training: boolean): number {
  if (!training) return n * rank + n * lora.maxOut;
  return 2 * n * rank + n * lora.maxOut + (dropout > 0 ? 2 * n * lora.maxIn : 0);
}

export function estimateTrainingMemory(input: EstimateInput): MemoryEstimate {
  if (input.device === 'cuda') return estimateGpuTrainingMemory(input);
  const s = input.shape;
  const counts = parameterCount(s);
  const P = counts.total;
  const optimizer = input.optimizer ?? 'adamw';
  const checkpointing = input.checkpointing ?? false;
  // AdamW keeps two moments per trained value; the engine's SGD always keeps a momentum buffer.
  const optimizerFloatsPer = optimizer === 'adamw' ? 2 : 1;
  const seq = Math.max(1, input.seqLen);
  const batch = Math.max(1, input.batchSize);
  const n = batch * seq;
  const rank = Math.max(1, input.loraRank ?? 16);
  const dropout = input.loraDropout ?? 0.05;

  switch (input.method) {
    case 'full':
    case 'lisa': {
      // LISA trains the embedding, final norm and head always plus γ layers at a time; only those
      // get gradients and AdamW state. Backward may reach the first layer: full activations.
      const gamma = Math.min(s.numLayers, Math.max(1, input.lisaLayers ?? 2));
      const trainable = input.method === 'full' ? P : counts.embedding + counts.head + counts.finalNorm + gamma * counts.perLayer;
      const activations = activationFloats(s, batch, seq, true, checkpointing) * FLOAT_BYTES;
      // LISA routes the active parameters' gradients into its own compact buffer; the model's full
      // gradient buffer is never allocated.
      const gradients = trainable * FLOAT_BYTES;
      return finish({
        weights: P * FLOAT_BYTES,
        gradients,
        optimizer: trainable * optimizerFloatsPer * FLOAT_BYTES,
        activations,
        loadPeak: null,
        trainableParams: trainable,
        totalParams: P,
      });
    }
    case 'lora':
    case 'qlora': {
      const lora = loraShape(s, input, counts);
      const trainable = lora.adapter + lora.base;
      let weights = P * FLOAT_BYTES;
      let loadPeak: number | null = null;
      let dequantScratch = 0;
      if (input.method === 'qlora') {
        // Every decoder projection is stored as NF4; embeddings, norms and head stay fp32. The
        // engine loads fp32, quantizes, then copies the rest into a compact buffer: at that moment
        // it holds all three (for a large model, more than training itself).
        const shapes = Object.values(slotShapes(s));
        const nf4 = s.numLayers * shapes.reduce((sum, [i, o]) => sum + nf4Bytes(i * o), 0);
        const kept = (P - s.numLayers * counts.perLayerLinear) * FLOAT_BYTES;
        weights = kept + nf4;
        // (The adapter and its gradient buffer already exist then.)
        loadPeak = P * FLOAT_BYTES + nf4 + kept + 2 * lora.adapter * FLOAT_BYTES;
        // One projection dequantized to fp32 at a time for the matmuls.
        dequantScratch = Math.max(...shapes.map(([i, o]) => i * o)) * FLOAT_BYTES;
      }
      // Adapter A and B beside the base; their gradients (and those of a trained embedding/head).
      weights += lora.adapter * FLOAT_BYTES;
      const activations = (activationFloats(s, batch, seq, true, checkpointing) + loraScratchFloats(n, rank, lora, dropout, true)) * FLOAT_BYTES + dequantScratch;
      return finish({
        weights,
        gradients: trainable * FLOAT_BYTES,
        optimizer: trainable * optimizerFloatsPer * FLOAT_BYTES,
        activations,
        loadPeak,
        trainableParams: trainable,
        totalParams: P,
      });
    }
    case 'zo': {
      // Zeroth-order (MeZO): forward passes only, perturbations regenerated from a seed and undone
      // exactly with one int8 code per trained value; no gradients, inference-sized activations.
      const variant = input.zoMethod ?? 'zo-sgd';
      const overLora = input.zoTarget === 'lora' && variant !== 'forward-grad';
      const lora = overLora ? loraShape(s, input, counts) : null;
      const trainable = lora ? lora.adapter + lora.base : P;
      const stateFloats = variant === 'zo-sgd-mmt' || variant === 'forward-grad' ? 1 : variant === 'zo-adam' ? 2 : 0;
      let activations = activationFloats(s, batch, seq, false, false);
      if (lora) activations += loraScratchFloats(n, rank, lora, dropout, false);
      if (variant === 'forward-grad') activations += forwardGradFloats(s, batch, seq);
      // Probe codes (one int8 per trained value) undo each perturbation exactly; forward-gradient
      // computes its directional derivative exactly and needs none.
      const codes = variant === 'forward-grad' ? 0 : trainable;
      return finish({
        weights: (P + (lora ? lora.adapter : 0)) * FLOAT_BYTES,
        // Never filled, but allocated with the adapter: the LoRA linears' gradient buffer. A
        // full-model ZO run holds no gradient buffer at all.
        gradients: (lora ? lora.adapter : 0) * FLOAT_BYTES,
        optimizer: codes + trainable * stateFloats * FLOAT_BYTES,
        activations: activations * FLOAT_BYTES,
        loadPeak: null,
        trainableParams: trainable,
        totalParams: P,
      });
    }
  }
}

function finish(e: Omit<MemoryEstimate, 'total'>): MemoryEstimate {
  const steady = e.weights + e.gradients + e.optimizer + e.activations;
  return { ...e, total: Math.max(steady, e.loadPeak ?? 0) };
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
 * smaller batch, gradient checkpointing, shorter sequences, then LoRA, QLoRA or zeroth-order —
 * and names the first that fits.
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
  // The weights and their training state are too big: fewer trained values, then 4-bit weights.
  if (input.method === 'full' || input.method === 'lisa') {
    if (fits({ method: 'lora' })) return { fits: false, estimate, budget, suggestion: 'LoRA (small adapters, frozen base)' };
    if (fits({ method: 'lora', batchSize: 1, checkpointing: true })) return { fits: false, estimate, budget, suggestion: 'LoRA with batch size 1 and gradient checkpointing' };
  }
  if (input.method !== 'qlora' && input.method !== 'zo') {
    if (fits({ method: 'qlora' })) return { fits: false, estimate, budget, suggestion: 'QLoRA (4-bit base weights)' };
    if (fits({ method: 'qlora', batchSize: 1, checkpointing: true })) return { fits: false, estimate, budget, suggestion: 'QLoRA with batch size 1 and gradient checkpointing' };
  }
  if (input.method !== 'zo' && fits({ method: 'zo', zoTarget: 'lora', zoMethod: 'zo-sgd', batchSize: 1 })) {
    return { fits: false, estimate, budget, suggestion: 'zeroth-order ZO-SGD over LoRA with batch size 1 (forward passes only)' };
  }
  return { fits: false, estimate, budget, suggestion: null };
}
