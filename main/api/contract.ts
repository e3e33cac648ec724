// The one API contract: every request, reply and event between the UI (Electron preload bridge or
// serve mode's WebSocket), the CLI and the tests is declared here once. Schemas validate what
// crosses a process boundary; the TypeScript types are inferred from them, so the two cannot drift.
// This file is "common" code: it must not import Node, Electron or DOM modules (the renderer
// bundles it).
import { z } from 'zod';
import { RECORD_FORMATS } from '../data/record-formats.js';

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

const TemplateNameSchema = z.enum(['model', 'alpaca', 'chatml', 'llama-2', 'llama-3', 'mistral']);

/** Optional with evaluate, score and generate: a PEFT adapter on the base, and/or an NF4-quantized base (a QLoRA run's adapter is evaluated on it). */
const adapterOptions = {
  adapter: z.string().min(1).optional(),
  quant: z.enum(['none', 'nf4']).default('none'),
};

/** Held-out loss: mean NLL of a stored dataset's split (the targets training would learn) under a model. */
export const EvaluateSpecSchema = z.object({
  kind: z.literal('evaluate'),
  model: modelDir,
  datasetId: z.number().int().positive(),
  split: z.enum(['val', 'train']).default('val'),
  seqLen: z.number().int().min(2).max(1_048_576).default(512),
  responsesOnly: z.boolean().default(true),
  template: TemplateNameSchema.optional(),
  /** Examples scored, from the start of the split (it is already a seeded random sample). */
  maxExamples: z.number().int().min(1).max(1_000_000).default(500),
  ...adapterOptions,
});
export type EvaluateSpec = z.infer<typeof EvaluateSpecSchema>;


/** Per-token log-probabilities, NLL and perplexity of a text. */

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

export const EXPORT_FORMATS = ['peft', 'merged', 'recipe'] as const;

/** Where a recipe's accelerate configs launch: GPUs per node and nodes. */
const clusterShape = {
  gpus: z.number().int().min(1).max(1024).default(8),
  nodes: z.number().int().min(1).max(4096).default(1),
};

/**
 * Export a training run: its LoRA adapter in PEFT's layout, a merged Hugging Face model (adapter
 * folded into the base; QLoRA onto the dequantized base) in f32, bf16 or f16, or a recipe that
 * trains it again with Hugging Face accelerate (FSDP or DeepSpeed) on a cluster, optionally
 * starting from the weights of one of its checkpoints.
 */
export const ExportSpecSchema = z.object({
  kind: z.literal('export'),
  run: z.string().min(1, 'a run folder is required'),
  format: z.enum(EXPORT_FORMATS),
  out: z.string().min(1),
  dtype: z.enum(['f32', 'bf16', 'f16']).default('bf16'),
  maxShardBytes: z.number().int().min(1_000_000).default(5_000_000_000),
  ...clusterShape,
  /** Recipe: start from the run's weights at this checkpoint step instead of the base, and train the steps after it. */
  fromStep: z.number().int().min(1).optional(),
});
export type ExportSpec = z.infer<typeof ExportSpecSchema>;

/**
 * Multiple-choice accuracy as MeZO and ZO-Bench score it (main/eval/multiple-choice.ts): SST-2 from a
 * sentence/label TSV, COPA from SuperGLUE JSONL.
 */
export const ChoiceEvalSpecSchema = z.object({
  kind: z.literal('choice-eval'),
  model: modelDir,
  task: z.enum(['sst2', 'copa']),
  data: z.string().min(1, 'a task file is required'),
  /** Examples scored, from the start of the file (0: all). */
  limit: z.number().int().min(0).default(0),
  ...adapterOptions,
});
export type ChoiceEvalSpec = z.infer<typeof ChoiceEvalSpecSchema>;

/** Jobs a user (UI, CLI) may start; each runs in the trainer process and is recorded as a run. */
export const UserJobSpecSchema = z.discriminatedUnion('kind', [SelfTestSpecSchema, TrainSpecSchema, EvaluateSpecSchema, ExportSpecSchema]);
export type UserJobSpec = z.infer<typeof UserJobSpecSchema>;

/** Internal jobs the app runs for itself or answers at once (not recorded in run history). */
export const SystemProbeSpecSchema = z.object({ kind: z.literal('system') });
/** The engine's own load-time checks of a model folder (config, safetensors headers, tensor shapes and dtypes), without reading weights. */
export const CheckModelSpecSchema = z.object({ kind: z.literal('check-model'), model: modelDir });
export type CheckModelSpec = z.infer<typeof CheckModelSpecSchema>;
export const JobSpecSchema = z.discriminatedUnion('kind', [
  SelfTestSpecSchema,
  TrainSpecSchema,
  EvaluateSpecSchema,
  SystemProbeSpecSchema,
  CheckModelSpecSchema,
  ScoreSpecSchema,
  GenerateSpecSchema,
  ExportSpecSchema,
  ChoiceEvalSpecSchema,
]);
export type JobSpec = z.infer<typeof JobSpecSchema>;

export const RunStateSchema = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
export type RunState = z.infer<typeof RunStateSchema>;

/** What run history shows of a training run without reading its metrics: filled for train runs. */
export const TrainingSummarySchema = z.object({
  method: z.enum(TRAIN_METHODS),
  /** Parameters the run trained (from its result; null when it ended without one, e.g. a crash). */
  trainableParameters: z.number().nullable(),
  /** Loss of the last recorded step, and that step. */
  finalLoss: z.number().nullable(),
  lastStep: z.number().int().nullable(),
  /** The run folder (spec.out) and whether the run continued another from a checkpoint. */
  runDir: z.string(),
  resumed: z.boolean(),
});
export type TrainingSummary = z.infer<typeof TrainingSummarySchema>;

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
  training: TrainingSummarySchema.nullable().optional(),
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


// ---- models and data (wizard steps) -------------------------------------------------------------

export const ModelShapeSchema = z.object({
  modelType: z.string(),
  hiddenSize: z.number().int(),
  intermediateSize: z.number().int(),
  numLayers: z.number().int(),
  numHeads: z.number().int(),
  numKvHeads: z.number().int(),
  headDim: z.number().int(),
  vocabSize: z.number().int(),
  maxPositionEmbeddings: z.number().int(),
  tieWordEmbeddings: z.boolean(),
  qkvBias: z.boolean(),
  oBias: z.boolean(),
});

/** A model folder as the Model step shows it. */
export const ModelSummarySchema = z.object({
  id: z.number().int(),
  path: z.string(),
  name: z.string(),
  shape: ModelShapeSchema,
  parameters: z.object({ total: z.number(), embedding: z.number(), perLayer: z.number(), head: z.number() }),
  /** dtype (transformers 5) or torch_dtype from config.json (the engine computes in fp32 whatever it is). */
  dtype: z.string().nullable(),
  weightFiles: z.array(z.string()),
  weightBytes: z.number(),
  chatTemplate: z.object({
    /** The model ships its own chat_template. */
    own: z.boolean(),
    /** The template training and chat will use: 'model' or a built-in's name. */
    used: TemplateNameSchema,
    stopToken: z.string().nullable(),
  }),
  /** Things that work but deserve a look (e.g. the template's stop token is not in the model's stop list). */
  warnings: z.array(z.string()),
});
export type ModelSummary = z.infer<typeof ModelSummarySchema>;

export const RecentModelSchema = z.object({ id: z.number().int(), path: z.string(), name: z.string(), createdAt: z.string(), exists: z.boolean() });

const ContainerSchema = z.enum(['json', 'jsonl', 'csv', 'tsv', 'txt']);
const RecordFormatSchema = z.enum(RECORD_FORMATS);
export const FieldMappingSchema = z.object({
  prompt: z.string().min(1).optional(),
  response: z.string().min(1).optional(),
  system: z.string().min(1).optional(),
  text: z.string().min(1).optional(),
});

export const RowIssueSchema = z.object({ line: z.number().int(), kind: z.string(), field: z.string().optional(), message: z.string() });

const ChatMessageSchema = z.object({ role: z.string(), content: z.string() });
export const NormalizedExampleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('chat'), messages: z.array(ChatMessageSchema) }),
  z.object({ kind: z.literal('text'), text: z.string() }),
]);

export const DataPreviewSchema = z.object({
  file: z.string(),
  bytes: z.number(),
  container: ContainerSchema,
  format: RecordFormatSchema,
  fields: z.array(z.string()),
  suggestedMapping: FieldMappingSchema.nullable(),
  needsMapping: z.boolean(),
  rows: z.array(
    z.object({
      line: z.number().int(),
      raw: z.unknown(),
      normalized: z.union([
        z.object({ ok: z.literal(true), example: NormalizedExampleSchema }),
        z.object({ ok: z.literal(false), kind: z.string(), field: z.string().optional(), message: z.string() }),
      ]),
    }),
  ),
  issues: z.array(RowIssueSchema),
});
export type DataPreview = z.infer<typeof DataPreviewSchema>;

export const ImportReportSchema = z.object({
  file: z.string(),
  container: ContainerSchema,
  format: RecordFormatSchema,
  mapping: FieldMappingSchema.nullable(),
  rowsRead: z.number().int(),
  validRows: z.number().int(),
  invalidRows: z.number().int(),
  duplicateRows: z.number().int(),
  issueCounts: z.record(z.string(), z.number()),
  issues: z.array(RowIssueSchema),
  issuesTruncated: z.boolean(),
});
export type ImportReport = z.infer<typeof ImportReportSchema>;

export const DatasetSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  sourcePath: z.string(),
  sourceBytes: z.number(),
  container: z.string(),
  format: z.string(),
  kind: z.enum(['chat', 'text']),
  mapping: z.unknown(),
  modelId: z.number().int().nullable(),
  template: z.string().nullable(),
  rowCount: z.number().int(),
  trainCount: z.number().int(),
  valCount: z.number().int(),
  skippedInvalid: z.number().int(),
  skippedDuplicate: z.number().int(),
  splitSeed: z.number(),
  valFraction: z.number(),
  createdAt: z.string(),
});
export type Dataset = z.infer<typeof DatasetSchema>;

export const TokenStatsSchema = z.object({
  count: z.number().int(),
  min: z.number(),
  max: z.number(),
  mean: z.number(),
  p50: z.number(),
  p90: z.number(),
  p99: z.number(),
  totalTokens: z.number(),
  overContext: z.number().int(),
  histogram: z.array(z.object({ from: z.number(), to: z.number(), count: z.number().int() })),
  sampled: z.number().int(),
  of: z.number().int(),
});
export type TokenStats = z.infer<typeof TokenStatsSchema>;

/** One example exactly as the model sees it: each token, and whether the loss counts it. */
export const TemplatedViewSchema = z.object({
  position: z.number().int(),
  sourceLine: z.number().int(),
  split: z.enum(['train', 'val']),
  tokens: z.array(z.object({ id: z.number().int(), text: z.string(), target: z.boolean(), special: z.boolean() })),
  appendedEos: z.boolean(),
  truncated: z.boolean(),
});
export type TemplatedView = z.infer<typeof TemplatedViewSchema>;

export const CheckpointInfoSchema = z.object({ step: z.number().int(), path: z.string() });

/** An export written from a training run (db/exports.ts). */
export const ExportRecordSchema = z.object({
  id: z.number().int(),
  /** The training run exported. */
  runId: z.number().int().nullable(),
  format: z.enum(EXPORT_FORMATS),
  path: z.string(),
  bytes: z.number().nullable(),
  /** dtype, the export job's run id, the reload check's relative error; a recipe's launch command. */
  detail: z.object({ dtype: z.string().nullable(), exportRunId: z.number().int(), reloadRelError: z.number().nullable(), method: z.string().nullable(), launch: z.string().nullable() }).partial().nullable(),
  createdAt: z.string(),
});
export type ExportRecord = z.infer<typeof ExportRecordSchema>;

export const ScoreSummarySchema = z.object({ count: z.number().int(), totalNll: z.number(), meanNll: z.number(), perplexity: z.number() });

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
  'runs.timeline': {
    summary: "A training run's metrics continued across resumes: the runs it resumed (same run folder) up to where each was resumed, then its own, one step numbering.",
    params: z.object({ id: z.number().int() }),
    result: z.object({ runIds: z.array(z.number().int()), metrics: z.array(MetricSchema) }),
  },
  'runs.checkpoints': {
    summary: "A training run's complete checkpoints on disk (newest last) and whether it can be resumed from the newest.",
    params: z.object({ runId: z.number().int() }),
    result: z.object({ runDir: z.string(), checkpoints: z.array(CheckpointInfoSchema), resumable: z.boolean(), reason: z.string().nullable() }),
  },
  'runs.resume': {
    summary: 'Continue a paused (cancelled) or interrupted training run from the newest checkpoint in its run folder, as a new run; optionally to a new total of steps.',
    params: z.object({ runId: z.number().int(), steps: z.number().int().min(1).max(10_000_000).optional() }),
    result: z.object({ run: RunSchema, fromStep: z.number().int() }),
  },
  'exports.start': {
    summary: "Export a finished training run: its LoRA adapter as a PEFT folder, a merged Hugging Face model in a dtype, or a recipe for accelerate (FSDP or DeepSpeed) on a cluster of `gpus` per node × `nodes`; runs as a job (progress events follow), recorded in the exports list when it succeeds.",
    params: z.object({
      runId: z.number().int(),
      format: z.enum(EXPORT_FORMATS),
      dtype: z.enum(['f32', 'bf16', 'f16']).default('bf16'),
      ...clusterShape,
      /** Recipe: start from the run's weights at this checkpoint step instead of the base. */
      fromStep: z.number().int().min(1).optional(),
      /** The folder to write (new or empty); default <home>/exports/run-<id>-<format>[-<dtype>]-<time>. */
      out: z.string().min(1).optional(),
    }),
    result: z.object({ run: RunSchema, out: z.string() }),
  },
  'exports.list': {
    summary: 'Exports written, newest first; of one training run when runId is given.',
    params: z.object({ runId: z.number().int().optional() }),
    result: z.object({ exports: z.array(ExportRecordSchema) }),
  },
  'jobs.start': {
    summary: 'Start a job in a trainer process; returns the new run at once, events follow. A train spec that will not fit in memory is refused, naming a setting that would fit.',
    params: z.object({ spec: UserJobSpecSchema, name: z.string().min(1).max(200).optional() }),
    result: z.object({ run: RunSchema }),
  },
  'jobs.cancel': {
    summary: 'Ask a running job to stop; it ends in state "cancelled".',
    params: z.object({ runId: z.number().int() }),
    result: z.object({ cancelled: z.boolean() }),
  },
  'models.inspect': {
    summary: 'Read a local Hugging Face model folder: architecture, parameters, context, vocabulary, chat template; records it in recent models.',
    params: z.object({ path: z.string().min(1, 'a model folder is required') }),
    result: z.object({ model: ModelSummarySchema }),
  },
  'models.recent': {
    summary: 'Model folders used before, most recent first.',
    params: z.object({ limit: z.number().int().min(1).max(100).default(10) }),
    result: z.object({ models: z.array(RecentModelSchema) }),
  },
  'data.preview': {
    summary: "A data file's detected container and format, its first rows normalised, and a suggested field mapping.",
    params: z.object({
      file: z.string().min(1, 'a data file is required'),
      container: ContainerSchema.optional(),
      format: RecordFormatSchema.optional(),
      mapping: FieldMappingSchema.optional(),
      rows: z.number().int().min(1).max(100).default(8),
    }),
    result: z.object({ preview: DataPreviewSchema }),
  },
  'data.import': {
    summary: 'Import a data file as a dataset (in a worker thread; data.import.progress events follow). A file with bad rows is rejected with its report unless keepValidRows.',
    params: z.object({
      file: z.string().min(1, 'a data file is required'),
      name: z.string().min(1).max(200).optional(),
      container: ContainerSchema.optional(),
      format: RecordFormatSchema.optional(),
      mapping: FieldMappingSchema.optional(),
      keepValidRows: z.boolean().default(false),
      keepDuplicates: z.boolean().default(false),
      valFraction: z.number().min(0).max(0.5).default(0.1),
      seed: z.number().int().min(0).default(1234),
      /** Model folder whose tokenizer and context check the rows' length. */
      model: z.string().min(1).optional(),
      template: TemplateNameSchema.optional(),
    }),
    result: z.discriminatedUnion('outcome', [
      z.object({ outcome: z.literal('imported'), dataset: DatasetSchema, report: ImportReportSchema }),
      z.object({ outcome: z.literal('rejected'), message: z.string(), report: ImportReportSchema }),
    ]),
  },
  'datasets.list': {
    summary: 'Imported datasets, newest first.',
    params: z.object({}),
    result: z.object({ datasets: z.array(DatasetSchema) }),
  },
  'datasets.inspect': {
    summary: "A dataset seen through a model: a few examples as token views (targets marked), token-length statistics and the template used.",
    params: z.object({
      id: z.number().int().positive(),
      model: z.string().min(1, 'a model folder is required'),
      template: TemplateNameSchema.optional(),
      responsesOnly: z.boolean().default(true),
      offset: z.number().int().min(0).default(0),
      limit: z.number().int().min(1).max(20).default(3),
    }),
    result: z.object({ dataset: DatasetSchema, template: z.string(), examples: z.array(TemplatedViewSchema), stats: TokenStatsSchema }),
  },
  'datasets.remove': {
    summary: 'Removes a dataset and its examples; refused while a queued or running job uses it.',
    params: z.object({ id: z.number().int().positive() }),
    result: z.object({ removed: z.literal(true) }),
  },
  'chat.generate': {
    summary: "Answer one user message with a model, through its chat template; the text streams as chat.text events with the caller's streamId, the reply comes when it ends.",
    params: z.object({
      streamId: z.string().min(1).max(64),
      model: z.string().min(1, 'a model folder is required'),
      message: z.string().min(1, 'the message is empty'),
      template: TemplateNameSchema.optional(),
      maxTokens: z.number().int().min(1).max(4096).default(96),
      temperature: z.number().min(0).max(10).default(0),
      seed: z.number().int().min(0).default(0),
      ...adapterOptions,
    }),
    result: z.object({ text: z.string(), stopReason: z.string(), prompt: z.string() }),
  },
  'chat.cancel': {
    summary: 'Stop a chat.generate stream.',
    params: z.object({ streamId: z.string().min(1).max(64) }),
    result: z.object({ cancelled: z.boolean() }),
  },
  'score.text': {
    summary: 'Load a model and score a text with it (NLL, perplexity): checks that an exported folder loads and predicts.',
    params: z.object({ model: z.string().min(1, 'a model folder is required'), text: z.string().min(1, 'the text is empty'), ...adapterOptions }),
    result: ScoreSummarySchema,
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
  z.object({
    type: z.literal('data.import.progress'),
    file: z.string(),
    rowsRead: z.number().int(),
    validRows: z.number().int(),
    issues: z.number().int(),
    bytesRead: z.number(),
    totalBytes: z.number(),
  }),
  z.object({ type: z.literal('chat.text'), streamId: z.string(), text: z.string() }),
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
/** Serve mode's WebSocket: the first message a client sends, before any request. */
export interface ApiAuthMessage {
  auth: string;
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
export const ipcChannels = { request: 'tunesmith:request', event: 'tunesmith:event', pickFolder: 'tunesmith:pick-folder' } as const;
