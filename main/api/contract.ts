// The one API contract: every request, reply and event between the UI (Electron preload bridge or
// serve mode's WebSocket), the CLI and the tests is declared here once. Schemas validate what
// crosses a process boundary; the TypeScript types are inferred from them, so the two cannot drift.
// This file is "common" code: it must not import Node, Electron or DOM modules (the renderer
// bundles it).
import { z } from 'zod';

// ---- shared shapes ------------------------------------------------------------------------------

export const CudaDeviceSchema = z.object({
  index: z.number().int(),
  name: z.string(),
  totalMemory: z.number(),
  freeMemory: z.number(),
  computeCapability: z.string(),
  multiprocessors: z.number().int(),
});

export const EngineInfoSchema = z.object({
  version: z.string(),
  backends: z.array(z.string()),
  cpuThreads: z.number().int(),
  compiler: z.string(),
  cuda: z.object({
    compiled: z.boolean(),
    runtimeVersion: z.number().int(),
    driverVersion: z.number().int(),
    error: z.string().nullable(),
    devices: z.array(CudaDeviceSchema),
  }),
});
export type EngineInfo = z.infer<typeof EngineInfoSchema>;

export const SystemInfoSchema = z.object({
  app: z.object({
    version: z.string(),
    mode: z.enum(['electron', 'serve', 'cli']),
    home: z.string(),
    databasePath: z.string(),
  }),
  host: z.object({
    platform: z.string(),
    arch: z.string(),
    cpuModel: z.string(),
    cpuCount: z.number().int(),
    totalMemory: z.number(),
    freeMemory: z.number(),
    nodeVersion: z.string(),
    electronVersion: z.string().nullable(),
  }),
  engine: EngineInfoSchema,
});
export type SystemInfo = z.infer<typeof SystemInfoSchema>;

// ---- jobs ---------------------------------------------------------------------------------------

/** The engine self-test: fp32 matrix products on the CPU checked against float64. */
export const SelfTestSpecSchema = z.object({
  kind: z.literal('selftest'),
  rounds: z.number().int().min(1).max(100_000).default(8),
  size: z.number().int().min(8).max(2048).default(256),
});

const modelDir = z.string().min(1, 'a model folder is required');

/** Training methods the engine runs. The zo-* names and forward-grad are the zeroth-order family. */
export const TRAIN_METHODS = ['full', 'lora', 'qlora', 'lisa', 'zo-sgd', 'zo-sgd-sign', 'zo-sgd-mmt', 'zo-sgd-cons', 'zo-adam', 'forward-grad'] as const;
export type TrainMethod = (typeof TRAIN_METHODS)[number];
export const ZO_METHODS: readonly TrainMethod[] = ['zo-sgd', 'zo-sgd-sign', 'zo-sgd-mmt', 'zo-sgd-cons', 'zo-adam', 'forward-grad'];

/** The method family run history groups by. */
export function methodFamily(method: TrainMethod): 'full' | 'lora' | 'qlora' | 'lisa' | 'zo' {
  return ZO_METHODS.includes(method) ? 'zo' : (method as 'full' | 'lora' | 'qlora' | 'lisa');
}

/** Whether a run trains LoRA adapters (its result is an adapter, exportable as PEFT or merged). */
export function usesAdapter(spec: { method: TrainMethod; zoTarget?: 'all' | 'lora' }): boolean {
  return spec.method === 'lora' || spec.method === 'qlora' || (ZO_METHODS.includes(spec.method) && spec.zoTarget === 'lora');
}

/** Fine-tuning of a stored dataset with one of the engine's methods. */
export const TrainSpecSchema = z.object({
  kind: z.literal('train'),
  method: z.enum(TRAIN_METHODS).default('full'),
  model: modelDir,
  datasetId: z.number().int().positive(),
  /**
   * The run folder: run.json (this spec), checkpoints/, and at the end model/ (a Hugging Face folder
   * of the trained weights). New or empty, unless resuming.
   */
  out: z.string().min(1),
  steps: z.number().int().min(1).max(10_000_000),
  lr: z.number().positive().max(1).default(1e-4),
  seqLen: z.number().int().min(2).max(1_048_576).default(512),
  batchSize: z.number().int().min(1).max(4096).default(1),
  gradAccum: z.number().int().min(1).max(4096).default(1),
  optimizer: z.enum(['adamw', 'sgd']).default('adamw'),
  schedule: z.enum(['constant', 'constant-warmup', 'cosine']).default('cosine'),
  warmupSteps: z.number().int().min(0).default(0),
  weightDecay: z.number().min(0).default(0),
  momentum: z.number().min(0).max(1).default(0),
  maxGradNorm: z.number().min(0).default(1),
  responsesOnly: z.boolean().default(true),
  checkpointing: z.boolean().default(false),
  seed: z.number().int().min(0).default(0),
  /** Chat template: the model's own or a built-in one. */
  template: z.enum(['model', 'alpaca', 'chatml', 'llama-2', 'llama-3', 'mistral']).optional(),
  threads: z.number().int().min(0).default(0),
  /** LISA: decoder layers trained at a time (γ) and steps between re-sampling them (K). */
  lisaGamma: z.number().int().min(1).default(2),
  lisaPeriod: z.number().int().min(1).default(20),
  /** LoRA / QLoRA (and zeroth-order over LoRA): where adapters go and their shape. */
  loraTargets: z.union([z.enum(['attention', 'all-linear', 'qv']), z.array(z.enum(['q', 'k', 'v', 'o', 'gate', 'up', 'down'])).min(1)]).default('all-linear'),
  loraR: z.number().int().min(1).max(4096).default(16),
  loraAlpha: z.number().positive().default(32),
  loraRslora: z.boolean().default(false),
  loraDropout: z.number().min(0).max(0.9).default(0.05),
  loraTrainEmbeddings: z.boolean().default(false),
  loraTrainHead: z.boolean().default(false),
  /** Zeroth-order: which parameters are perturbed — all of them, or LoRA adapters. */
  zoTarget: z.enum(['all', 'lora']).default('all'),
  /** Zeroth-order: perturbation scale ε, directions per step q, one-sided difference. */
  zoEps: z.number().positive().default(1e-3),
  zoQueries: z.number().int().min(1).max(64).default(1),
  zoOneSided: z.boolean().default(false),
  /** Write a checkpoint every N steps (0: only when cancelled); the last two are kept. */
  checkpointEvery: z.number().int().min(0).default(50),
  /** Continue from this checkpoint (a file in the run folder's checkpoints/). */
  resumeFrom: z.string().optional(),
});
export type TrainSpec = z.infer<typeof TrainSpecSchema>;

/** Jobs a user (UI, CLI) may start; each runs in the trainer process and is recorded as a run. */
export const UserJobSpecSchema = z.discriminatedUnion('kind', [SelfTestSpecSchema, TrainSpecSchema]);
export type UserJobSpec = z.infer<typeof UserJobSpecSchema>;

/** Per-token log-probabilities, NLL and perplexity of a text. */
/** Optional with score and generate: a PEFT adapter on the base, and/or an NF4-quantized base. */
const adapterOptions = {
  adapter: z.string().min(1).optional(),
  quant: z.enum(['none', 'nf4']).default('none'),
};

export const ScoreSpecSchema = z.object({ kind: z.literal('score'), model: modelDir, text: z.string().min(1, 'the text is empty'), ...adapterOptions });
export type ScoreSpec = z.infer<typeof ScoreSpecSchema>;

/** Continue a prompt, streaming text. temperature 0 is greedy. */
export const GenerateSpecSchema = z.object({
  kind: z.literal('generate'),
  model: modelDir,
  prompt: z.string(),
  maxTokens: z.number().int().min(1).max(1_000_000).default(128),
  temperature: z.number().min(0).max(10).default(0),
  topK: z.number().int().min(0).default(0),
  topP: z.number().gt(0).max(1).default(1),
  seed: z.number().int().min(0).default(0),
  stop: z.array(z.string().min(1)).default([]),
  ...adapterOptions,
});
export type GenerateSpec = z.infer<typeof GenerateSpecSchema>;

/**
 * Export a training run: its LoRA adapter in PEFT's layout, or a merged Hugging Face model (adapter
 * folded into the base; QLoRA onto the dequantized base) in f32, bf16 or f16.
 */
export const ExportSpecSchema = z.object({
  kind: z.literal('export'),
  run: z.string().min(1, 'a run folder is required'),
  format: z.enum(['peft', 'merged']),
  out: z.string().min(1),
  dtype: z.enum(['f32', 'bf16', 'f16']).default('bf16'),
  maxShardBytes: z.number().int().min(1_000_000).default(5_000_000_000),
});
export type ExportSpec = z.infer<typeof ExportSpecSchema>;

/** Internal jobs the app runs for itself or answers at once (not recorded in run history). */
export const SystemProbeSpecSchema = z.object({ kind: z.literal('system') });
export const JobSpecSchema = z.discriminatedUnion('kind', [SelfTestSpecSchema, TrainSpecSchema, SystemProbeSpecSchema, ScoreSpecSchema, GenerateSpecSchema, ExportSpecSchema]);
export type JobSpec = z.infer<typeof JobSpecSchema>;

export const RunStateSchema = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
export type RunState = z.infer<typeof RunStateSchema>;

export const RunSchema = z.object({
  id: z.number().int(),
  kind: z.string(),
  name: z.string(),
  spec: z.unknown(),
  state: RunStateSchema,
  error: z.string().nullable(),
  result: z.unknown(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
});
export type Run = z.infer<typeof RunSchema>;

export const MetricSchema = z.object({
  step: z.number().int(),
  loss: z.number().nullable().optional(),
  evalLoss: z.number().nullable().optional(),
  lr: z.number().nullable().optional(),
  tokensPerS: z.number().nullable().optional(),
  memBytes: z.number().nullable().optional(),
});

// ---- methods ------------------------------------------------------------------------------------

export const methods = {
  'system.info': {
    summary: 'Host, app and engine facts: backends compiled in, GPUs or why there are none, RAM, paths.',
    params: z.object({ refresh: z.boolean().default(false) }),
    result: SystemInfoSchema,
  },
  'runs.list': {
    summary: 'Run history, newest first.',
    params: z.object({ limit: z.number().int().min(1).max(1000).default(100) }),
    result: z.object({ runs: z.array(RunSchema) }),
  },
  'runs.get': {
    summary: 'One run with its metrics.',
    params: z.object({ id: z.number().int() }),
    result: z.object({ run: RunSchema, metrics: z.array(MetricSchema) }),
  },
  'jobs.start': {
    summary: 'Start a job in a trainer process; returns the new run at once, events follow.',
    params: z.object({ spec: UserJobSpecSchema, name: z.string().min(1).max(200).optional() }),
    result: z.object({ run: RunSchema }),
  },
  'jobs.cancel': {
    summary: 'Ask a running job to stop; it ends in state "cancelled".',
    params: z.object({ runId: z.number().int() }),
    result: z.object({ cancelled: z.boolean() }),
  },
} as const;

export type MethodName = keyof typeof methods;
/** What a caller passes (defaults may be left out). */
export type Params<M extends MethodName> = z.input<(typeof methods)[M]['params']>;
/** What a handler receives (defaults filled in). */
export type ParsedParams<M extends MethodName> = z.output<(typeof methods)[M]['params']>;
export type Result<M extends MethodName> = z.output<(typeof methods)[M]['result']>;

export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(methods, name);
}

// ---- events (server -> UI) ----------------------------------------------------------------------

export const ApiEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('run.state'), run: RunSchema }),
  z.object({
    type: z.literal('run.progress'),
    runId: z.number().int(),
    step: z.number(),
    total: z.number(),
    message: z.string(),
    etaSeconds: z.number().nullable(),
  }),
  z.object({ type: z.literal('run.metric'), runId: z.number().int(), metric: MetricSchema }),
  z.object({
    type: z.literal('run.log'),
    runId: z.number().int(),
    level: z.enum(['info', 'warn', 'error']),
    message: z.string(),
  }),
]);
export type ApiEvent = z.infer<typeof ApiEventSchema>;

// ---- envelopes ----------------------------------------------------------------------------------

export const ErrorCodeSchema = z.enum(['bad_request', 'unknown_method', 'not_found', 'conflict', 'internal']);
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

export interface ApiRequest {
  id: number;
  method: string;
  params?: unknown;
}
export type ApiReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: ErrorCode; message: string } };
export interface ApiEventMessage {
  event: ApiEvent;
}

/** An error a handler throws on purpose, with a code the client can act on. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The client side every transport implements (preload bridge, WebSocket, in-process). */
export interface ApiClient {
  call<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>>;
  onEvent(listener: (event: ApiEvent) => void): () => void;
}

/** Channel names of the Electron bridge (the preload script repeats them: it can import nothing). */
export const ipcChannels = { request: 'tunesmith:request', event: 'tunesmith:event' } as const;
