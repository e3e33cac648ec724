// recipe.json: a training run's settings as the recipe's train.py (main/export/recipe/train.py)
// reads them, in Hugging Face's names: LoRA targets as module names, the optimizer and schedule
// with the constants the engine uses (native/src/train/trainer.h, schedule.h). Only methods that an
// established distributed trainer runs are handed over; zeroth-order ones are refused.
import { ZO_METHODS, usesAdapter, type TrainSpec } from '../api/contract.js';
import { expandLoraTargets } from '../estimate/spec-estimate.js';

export const RECIPE_FORMAT = 1;

/** Tunesmith's projection names and the Llama module names PEFT targets. */
const MODULE_NAMES = { q: 'q_proj', k: 'k_proj', v: 'v_proj', o: 'o_proj', gate: 'gate_proj', up: 'up_proj', down: 'down_proj' } as const;

export interface RecipeStart {
  step: number;
  /** Relative to the recipe folder: a Hugging Face model (full, LISA) or a PEFT adapter (LoRA, QLoRA). */
  model?: string;
  adapter?: string;
}

export interface RecipeSettings {
  format: typeof RECIPE_FORMAT;
  tunesmithVersion: string;
  run: string;
  model: string;
  method: 'full' | 'lora' | 'qlora' | 'lisa';
  start: RecipeStart | null;
  /** The run's total steps (the schedule's length) and the steps already done before this recipe starts. */
  steps: number;
  firstStep: number;
  batchSize: number;
  gradAccum: number;
  seqLen: number;
  seed: number;
  padId: number;
  gradientCheckpointing: boolean;
  maxGradNorm: number;
  optimizer: { name: 'adamw' | 'sgd'; lr: number; betas: [number, number]; eps: number; weightDecay: number; momentum: number };
  schedule: { name: TrainSpec['schedule']; warmupSteps: number; numCycles: number };
  lora: { r: number; alpha: number; rslora: boolean; dropout: number; targetModules: string[]; modulesToSave: string[] } | null;
  qlora: { quantType: 'nf4'; doubleQuant: true } | null;
  lisa: { gamma: number; period: number } | null;
  data: { train: string; val: string; order: string };
}

/** Why a run cannot be handed over, or null when it can. */
export function recipeRefusal(spec: Pick<TrainSpec, 'method'>): string | null {
  if (ZO_METHODS.includes(spec.method)) {
    return `the run trained with ${spec.method}, a zeroth-order method: accelerate, FSDP and DeepSpeed train with gradients and no distributed zeroth-order trainer exists to hand it over to; export the model or adapter instead`;
  }
  return null;
}

export function recipeSettings(
  spec: TrainSpec,
  options: { run: string; tunesmithVersion: string; padId: number; tiedEmbeddings: boolean; start: RecipeStart | null },
): RecipeSettings {
  const refusal = recipeRefusal(spec);
  if (refusal) throw new Error(refusal);
  const method = spec.method as RecipeSettings['method'];
  const slots = expandLoraTargets(spec.loraTargets);
  // A tied head is the embedding matrix: PEFT trains it as embed_tokens, as the engine's adapter file names it.
  const modulesToSave = [
    ...(spec.loraTrainEmbeddings || (spec.loraTrainHead && options.tiedEmbeddings) ? ['embed_tokens'] : []),
    ...(spec.loraTrainHead && !options.tiedEmbeddings ? ['lm_head'] : []),
  ];
  return {
    format: RECIPE_FORMAT,
    tunesmithVersion: options.tunesmithVersion,
    run: options.run,
    model: spec.model,
    method,
    start: options.start,
    steps: spec.steps,
    firstStep: options.start?.step ?? 0,
    batchSize: spec.batchSize,
    gradAccum: spec.gradAccum,
    seqLen: spec.seqLen,
    seed: spec.seed,
    padId: options.padId,
    gradientCheckpointing: spec.checkpointing,
    maxGradNorm: spec.maxGradNorm,
    optimizer: { name: spec.optimizer, lr: spec.lr, betas: [0.9, 0.999], eps: 1e-8, weightDecay: spec.weightDecay, momentum: spec.momentum },
    schedule: { name: spec.schedule, warmupSteps: spec.warmupSteps, numCycles: 0.5 },
    lora: usesAdapter(spec)
      ? { r: spec.loraR, alpha: spec.loraAlpha, rslora: spec.loraRslora, dropout: spec.loraDropout, targetModules: slots.map((s) => MODULE_NAMES[s]), modulesToSave }
      : null,
    qlora: method === 'qlora' ? { quantType: 'nf4', doubleQuant: true } : null,
    lisa: method === 'lisa' ? { gamma: spec.lisaGamma, period: spec.lisaPeriod } : null,
    data: { train: 'data/train.jsonl', val: 'data/val.jsonl', order: 'data/order.txt' },
  };
}

/** recipe.json's text: snake_case keys, as Python reads them. */
export function recipeJson(settings: RecipeSettings): string {
  const snake = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(snake);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snake(v)]));
  };
  return JSON.stringify(snake(settings), null, 2) + '\n';
}
