// Peak GPU memory of a training run on the CUDA engine (native/src/gpu): the same inputs as the
// CPU estimate (memory-estimate.ts), with the GPU engine's storage: bf16 weights and activations,
// fp32 gradients of trained tensors only, flash-style attention (no seq × seq matrix), the head in
// chunks of rows, activation checkpointing by default, QLoRA quantized one Linear at a time.
//
// Every term is one buffer of the engine's inventory (the comment at the top of
// native/src/gpu/model/gpu_model.cpp, plus native/src/gpu/train/gpu_lora*.cpp and gpu_trainer.cpp),
// so in the engine's own accounting (device_memory_stats().peak_bytes) the estimate is exact; the
// driver's view (nvidia-smi) adds the CUDA context and cuBLAS's workspace, estimated by
// CUDA_RUNTIME_OVERHEAD_BYTES.
import type { EstimateInput, LoraSlot, MemoryEstimate } from './memory-estimate.js';
import { parameterCount, type ModelShape } from './model-shape.js';

const BF16 = 2;
const F32 = 4;
const I32 = 4;

/**
 * What the driver reports beyond the engine's buffers: the CUDA context (with the kernels loaded)
 * and cuBLAS's handle and workspace. An assumption until measured on a card (bench:gpu records the
 * driver's baseline and peak next to the engine's peak).
 */
export const CUDA_RUNTIME_OVERHEAD_BYTES = 768 * 2 ** 20;

/** Rows of the head computed at once (GpuModel's default ce_chunk_tokens). */
export const GPU_HEAD_CHUNK_ROWS = 1024;

/** The LoRA dropout path works on at most this many input elements at a time (gpu_lora_math.h). */
const LORA_DROPOUT_CHUNK_ELEMENTS = 1 << 22;

/** kernels/elementwise.cu keeps a 4 KiB partial-sum buffer once any gradient norm was taken. */
const SUM_SQUARES_SCRATCH = 4096;

const ALL_SLOTS: readonly LoraSlot[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];

/** [in, out] of each decoder Linear. */
function linearShapes(s: ModelShape): Record<LoraSlot, [number, number]> {
  const H = s.hiddenSize;
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  const I = s.intermediateSize;
  return { q: [H, q], k: [H, kv], v: [H, kv], o: [q, H], gate: [H, I], up: [H, I], down: [I, H] };
}

/** Device bytes of one NF4 tensor (codes, 8-bit absmax codes, fp32 second-level absmax; the offset lives on the host). */
function nf4DeviceBytes(numel: number): number {
  const blocks = Math.ceil(numel / 64);
  return Math.ceil(numel / 2) + blocks + Math.ceil(blocks / 256) * F32;
}

/** Bytes of the per-shape buffers of GpuModel (tokens through the backward scratch). */
function modelActivationBytes(s: ModelShape, batch: number, seq: number, training: boolean, checkpointing: boolean): number {
  const n = batch * seq;
  const H = s.hiddenSize;
  const I = s.intermediateSize;
  const V = s.vocabSize;
  const L = s.numLayers;
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  const chunk = Math.min(GPU_HEAD_CHUNK_ROWS, n);
  const ids = 3 * n * I32; // tokens, targets, positions
  const invFreq = (s.headDim / 2) * F32;
  const layerInputs = (training ? L + 1 : 2) * n * H * BF16;
  const activationSet = n * (3 * H + 2 * q + 2 * kv + 3 * I) * BF16 + 2 * n * F32 + batch * s.numHeads * seq * F32;
  const sets = training && !checkpointing ? L : 1;
  const finalNorm = n * H * BF16 + n * F32;
  let head = chunk * V * F32 + n * F32; // logits chunk, token nll
  let backward = 0;
  if (training) {
    head += chunk * V * BF16 + n * H * F32; // dlogits chunk, d(final norm)
    backward = 4 * n * H * F32 + n * H * BF16 + 2 * n * q * BF16 + 2 * n * kv * BF16 + 3 * n * I * BF16;
  }
  return ids + invFreq + layerInputs + sets * activationSet + finalNorm + head + backward;
}

interface AdapterShape {
  params: number;
  /** Scratch of the adapter path (u, du, and with dropout the dropped input and its gradients). */
  scratchBytes: number;
}

function adapterShape(s: ModelShape, input: EstimateInput, n: number, training: boolean): AdapterShape {
  const rank = Math.max(1, input.loraRank ?? 16);
  const shapes = linearShapes(s);
  const targets = input.loraTargets?.length ? input.loraTargets : ALL_SLOTS;
  const dropout = training ? (input.loraDropout ?? 0.05) : 0;
  let perLayer = 0;
  let rows = 0;
  let dropped = 0;
  let droppedF32 = 0;
  for (const t of targets) {
    const [inp, out] = shapes[t];
    perLayer += rank * (inp + out);
    const chunk = dropout > 0 ? Math.max(1, Math.min(n, Math.floor(LORA_DROPOUT_CHUNK_ELEMENTS / inp))) : n;
    rows = Math.max(rows, chunk);
    if (dropout > 0) {
      dropped = Math.max(dropped, chunk * inp);
      // q, k, v, gate and up send an fp32 input gradient (it is summed with the others).
      if (t !== 'o' && t !== 'down') droppedF32 = Math.max(droppedF32, chunk * inp);
    }
  }
  const u = rows * rank * BF16 * (training ? 2 : 1); // u (and du in training)
  const scratch = u + (training ? 2 * dropped * BF16 + droppedF32 * F32 : 0);
  return { params: s.numLayers * perLayer, scratchBytes: scratch };
}

export function estimateGpuTrainingMemory(input: EstimateInput): MemoryEstimate {
  const s = input.shape;
  const counts = parameterCount(s);
  const P = counts.total;
  const seq = Math.max(1, input.seqLen);
  const batch = Math.max(1, input.batchSize);
  const n = batch * seq;
  const checkpointing = input.checkpointing ?? true;
  const stateBytes = input.bf16OptimizerStates ? 2 * BF16 : 2 * F32; // AdamW m and v per trained value
  const shapes = Object.values(linearShapes(s));
  const largestLinear = Math.max(...shapes.map(([i, o]) => i * o));

  switch (input.method) {
    case 'full':
    case 'lisa': {
      const gamma = Math.min(s.numLayers, Math.max(1, input.lisaLayers ?? 2));
      const trainable = input.method === 'full' ? P : counts.embedding + counts.head + counts.finalNorm + gamma * counts.perLayer;
      return finish({
        weights: P * BF16,
        gradients: trainable * F32,
        optimizer: trainable * stateBytes,
        activations: modelActivationBytes(s, batch, seq, true, checkpointing) + SUM_SQUARES_SCRATCH,
        loadPeak: null,
        trainableParams: trainable,
        totalParams: P,
      });
    }
    case 'lora':
    case 'qlora': {
      const adapter = adapterShape(s, input, n, true);
      // fp32 masters and their bf16 working copies; gradients fp32; AdamW m and v fp32.
      let weights = P * BF16 + adapter.params * (F32 + BF16);
      let scratch = 0;
      if (input.method === 'qlora') {
        // Every decoder Linear is NF4 (quantized one at a time: the bf16 model never exists on the
        // card); one bf16 scratch receives the weight of the product being run.
        const linears = s.numLayers * counts.perLayerLinear;
        const nf4 = s.numLayers * shapes.reduce((sum, [i, o]) => sum + nf4DeviceBytes(i * o), 0);
        weights = (P - linears) * BF16 + nf4 + 256 * F32 + adapter.params * (F32 + BF16);
        scratch = largestLinear * BF16;
      }
      return finish({
        weights,
        gradients: adapter.params * F32,
        optimizer: adapter.params * 2 * F32,
        activations: modelActivationBytes(s, batch, seq, true, checkpointing) + adapter.scratchBytes + scratch + SUM_SQUARES_SCRATCH,
        loadPeak: null,
        trainableParams: adapter.params,
        totalParams: P,
      });
    }
    case 'zo': {
      // Forward passes on θ ± ε·z: θ is never modified; each parameter is read through a perturbed
      // copy of itself (one scratch for the largest matrix, one for the largest vector), the
      // embedding perturbed in its gather. No gradients, no optimizer state (ZO-SGD).
      const largestMatrix = Math.max(largestLinear, s.vocabSize * s.hiddenSize);
      const largestVector = Math.max(s.hiddenSize, s.qkvBias || s.oBias ? s.numHeads * s.headDim : 0);
      return finish({
        weights: P * BF16,
        gradients: 0,
        optimizer: 0,
        activations: modelActivationBytes(s, batch, seq, false, false) + (largestMatrix + largestVector) * BF16,
        loadPeak: null,
        trainableParams: P,
        totalParams: P,
      });
    }
  }
}

function finish(e: Omit<MemoryEstimate, 'total' | 'runtimeOverhead'>): MemoryEstimate {
  const engine = e.weights + e.gradients + e.optimizer + e.activations;
  return { ...e, runtimeOverhead: CUDA_RUNTIME_OVERHEAD_BYTES, total: engine + CUDA_RUNTIME_OVERHEAD_BYTES };
}
