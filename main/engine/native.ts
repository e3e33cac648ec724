// Loads the native engine addon and types its exports. Only the trainer process loads it: engine
// work (and any crash in it) stays out of the UI and main processes.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { EngineInfo } from '../api/contract.js';
import type { ModelShape } from '../estimate/model-shape.js';
import { unpackedPath } from '../paths.js';

export interface SelfTestRound {
  round: number;
  rounds: number;
  maxRelError: number;
  gflops: number;
}

export interface SelfTestSummary {
  passed: boolean;
  cancelled: boolean;
  roundsDone: number;
  maxRelError: number;
  tolerance: number;
  meanGflops: number;
  seconds: number;
}

/** config.json as the engine read it: the model's shape plus what the engine needs to run it. */
export interface ModelConfig extends Omit<ModelShape, 'qkvBias' | 'oBias'> {
  ropeTheta: number;
  rmsNormEps: number;
  bosTokenId: number;
  /** The weights' dtype as config.json states it (`dtype`, else `torch_dtype`); null when it does not. */
  dtype: string | null;
  eosTokenIds: number[];
}

export interface MemoryStats {
  liveBytes: number;
  peakBytes: number;
}

export interface GenerateOptions {
  maxNewTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Ids that end generation (not included in the output); default: the config's EOS ids. */
  stopIds?: number[];
}

/** A loaded model. One weight-touching call at a time; a second is refused as "busy". */
export interface NativeModel {
  config(): ModelConfig;
  numParameters(): number;
  /** log p(tokens[t+1] | tokens[..t]) for each row: batch*(seq-1) values. */
  score(tokens: Int32Array, batch: number, seq: number): Promise<Float32Array>;
  /** Next-token logits at every position: batch*seq*vocab values. */
  logits(tokens: Int32Array, batch: number, seq: number): Promise<Float32Array>;
  generate(prompt: Int32Array, options: GenerateOptions, onToken: (id: number) => void): { promise: Promise<Int32Array>; cancel(): void };
  /** LoRA (QLoRA with quantizeNf4) adapters on the chosen Linear layers; the base is frozen. */
  attachLora(config: LoraOptions): Promise<void>;
  /** A PEFT adapter folder onto this base model. */
  loadAdapter(dir: string, options?: { quantizeNf4?: boolean }): Promise<void>;
  /** PEFT's adapter_config.json + adapter_model.safetensors. */
  saveAdapter(dir: string, baseModelName: string): Promise<void>;
  /** The model with its adapter merged in, as a Hugging Face folder (sharded at maxShardBytes). */
  saveMerged(baseModelDir: string, outDir: string, options?: { dtype?: 'f32' | 'bf16' | 'f16'; maxShardBytes?: number }): Promise<void>;
  /** Values the optimizer updates: the adapter (and embeddings/head when trained), or everything. */
  trainableParameters(): number;
  setCheckpointing(on: boolean): void;
  /** Hugging Face safetensors (f32), written atomically. */
  save(path: string): Promise<void>;
}

export interface LoraOptions {
  /** A preset ("attention", "all-linear", "qv") or module names (q, k, v, o, gate, up, down). */
  targets?: string | string[];
  r?: number;
  alpha?: number;
  rslora?: boolean;
  dropout?: number;
  trainEmbeddings?: boolean;
  trainHead?: boolean;
  /** QLoRA: the frozen base Linear weights stored as NF4 with double quantization. */
  quantizeNf4?: boolean;
  seed?: number;
}

export interface TrainerOptions {
  /** full: AdamW/SGD over the trainable parameters; lisa: layerwise sampling; zo: zeroth-order. */
  method?: 'full' | 'lisa' | 'zo';
  optimizer?: 'adamw' | 'sgd';
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  schedule?: 'constant' | 'constant-warmup' | 'cosine';
  warmupSteps?: number;
  totalSteps?: number;
  maxGradNorm?: number;
  seed?: number;
  lisaGamma?: number;
  lisaPeriod?: number;
  /** zo-sgd, zo-sgd-sign, zo-sgd-mmt, zo-sgd-cons, zo-adam or forward-grad. */
  zoMethod?: string;
  zoEps?: number;
  zoQueries?: number;
  zoOneSided?: boolean;
}

export interface MicroBatch {
  tokens: Int32Array;
  /** 1 marks a token the loss counts; omitted: every token. */
  lossMask?: Uint8Array;
  batch: number;
  seq: number;
}

export interface StepResult {
  loss: number;
  gradNorm: number;
  lr: number;
  step: number;
  memory: MemoryStats;
  /** LISA: the decoder layers trained in this step, and whether it began a new interval. */
  activeLayers?: number[];
  switched?: boolean;
  /** LISA: values trained in this interval (embeddings, final norm, head and the active layers). */
  activeParameters?: number;
  /** Zeroth-order: the projected gradient (mean over queries). */
  projectedGrad?: number;
}

export interface NativeTrainer {
  step(microBatches: MicroBatch[]): Promise<StepResult>;
  /** Trainable weights, optimizer state, RNG and step counter; written atomically. */
  saveCheckpoint(path: string): Promise<void>;
  loadCheckpoint(path: string): Promise<void>;
}

export interface NativeEngine {
  engineInfo(): EngineInfo;
  loadModel(dir: string, options?: { threads?: number }): Promise<NativeModel>;
  /** What loadModel checks before reading any weight (config.json, safetensors headers, every tensor's dtype and shape), from the headers alone. */
  checkModel(dir: string): Promise<ModelConfig>;
  /** Random weights (normal, std initStd; norms 1) for a config.json text: tests and benchmarks. */
  createRandomModel(configJson: string, options?: { seed?: number; initStd?: number; threads?: number }): Promise<NativeModel>;
  Trainer: new (model: NativeModel, options: TrainerOptions) => NativeTrainer;
  memoryStats(): MemoryStats;
  selfTest(
    options: { rounds?: number; size?: number; seed?: number; threads?: number },
    onRound: (round: SelfTestRound) => void,
  ): { promise: Promise<SelfTestSummary>; cancel(): void };
}

export function addonPath(): string {
  return unpackedPath('native', 'build', 'Release', 'tunesmith_native.node');
}

let engine: NativeEngine | undefined;

export function loadEngine(): NativeEngine {
  if (engine) return engine;
  const file = addonPath();
  if (!existsSync(file)) {
    throw new Error(`the native engine is not built (${file} is missing): run "npm run build:native"`);
  }
  const require = createRequire(import.meta.url);
  engine = require(file) as NativeEngine;
  return engine;
}
