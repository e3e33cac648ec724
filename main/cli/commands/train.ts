// tunesmith train: fine-tune a model on a dataset (a stored one, or a file imported on the spot),
// in a trainer process, with a progress line per step; the run, its metrics and its outcome are
// recorded like runs started from the app. Ctrl+C cancels.
import { basename, resolve } from 'node:path';
import { listMetrics } from '../../../db/metrics.js';
import { TRAIN_METHODS, TrainSpecSchema, type TrainSpec } from '../../api/contract.js';
import { describeIssues } from '../../api/dispatch.js';
import { findIdenticalDataset } from '../../data/identical-dataset.js';
import { importDataset, ImportRejectedError, resolveImportFormat, type ImportOptions } from '../../data/import-dataset.js';
import { requireModelFolder } from '../../model/model-folder.js';
import { checkWritableFolder } from '../../system/writable-output.js';
import type { TrainResult } from '../../trainer/jobs/train.js';
import { refuseIfRunFolderBusy } from '../../jobs/live-runs.js';
import { resumeSpec } from '../../train/resume-run.js';
import { runFolder } from '../../train/run-folder.js';
import type { AppContext } from '../../app-context.js';
import { followRun, formatBytes, parseIntOption, parseNumberOption, parseOptions, UsageError, withContext, type CliCommand, type CliIo } from '../command.js';

export const trainCommand: CliCommand = {
  name: 'train',
  summary: 'Fine-tune a model on a dataset and write the result as a Hugging Face folder',
  help: `Usage: tunesmith train --model DIR (--data FILE | --dataset ID) --steps N --out RUN_DIR [options]
       tunesmith train --resume RUN_DIR [--steps N]

  --model DIR          base model: a Hugging Face folder
  --data FILE          a data file, imported first (see "tunesmith data import" for formats
                       and options; its validation split is held out); a file with the same
                       content as an earlier import reuses that dataset
  --dataset ID         a dataset already imported
  --method M           ${TRAIN_METHODS.join(', ')}
                       (default full)
  --steps N            optimizer steps (with --resume: a new total, to train longer)
  --out RUN_DIR        the run folder (must be new or empty): run.json, checkpoints/, and the
                       trained model in RUN_DIR/model when done
  --resume RUN_DIR     continue a cancelled or crashed run from its last checkpoint; the loss
                       sequence is exactly the one an uninterrupted run gives
  --checkpoint-every N checkpoint every N steps (default 50; also on cancel)
  --lora-targets T     LoRA/QLoRA: all-linear (default), attention, qv, or a list like q,v,down
  --lora-r N           LoRA rank (default 16)
  --lora-alpha X       LoRA alpha; the update is scaled by alpha/r (default 32)
  --rslora             scale by alpha/sqrt(r) instead (rank-stabilised LoRA)
  --lora-dropout X     dropout on the adapter input (default 0.05)
  --train-embeddings   LoRA: also train the token embeddings in full
  --train-head         LoRA: also train the LM head in full
  --lisa-gamma N       LISA: decoder layers trained at a time (default 2)
  --lisa-period K      LISA: steps between re-sampling the layers (default 20)
  --zo-eps X           zeroth-order: perturbation scale (default 1e-3)
  --zo-queries Q       zeroth-order: random directions per step (default 1)
  --zo-one-sided       zeroth-order: (L(θ+εz) − L(θ))/ε instead of the central difference
  --zo-target T        zeroth-order: all (default) parameters, or lora adapters
  --lr X               peak learning rate (default 1e-4)
  --seq-len N          examples longer than N tokens are cut (default 512)
  --batch-size N       examples per micro-batch (default 1)
  --grad-accum N       micro-batches per optimizer step (default 1)
  --optimizer O        adamw (default) or sgd
  --schedule S         cosine (default), constant or constant-warmup
  --warmup N           linear warm-up steps (default 0)
  --weight-decay X     AdamW decoupled weight decay (default 0)
  --momentum X         SGD momentum (default 0)
  --clip X             clip the global gradient norm to X; 0 turns it off (default 1)
  --all-tokens         learn prompts too (default: responses only)
  --checkpointing      recompute activations in backward: less memory, more time
  --template T         chat template: model, alpaca, chatml, llama-2, llama-3, mistral
  --seed N             data-order seed (default 0)
  --threads N          CPU threads (default: all)
  --ignore-memory-check
                       start even if the memory estimate says the run will not fit
  --json               print the finished run as JSON`,
  async run(argv, io) {
    const { values } = parseOptions(argv, {
      model: { type: 'string' },
      data: { type: 'string' },
      dataset: { type: 'string' },
      method: { type: 'string' },
      steps: { type: 'string' },
      out: { type: 'string' },
      lr: { type: 'string' },
      'seq-len': { type: 'string' },
      'batch-size': { type: 'string' },
      'grad-accum': { type: 'string' },
      optimizer: { type: 'string' },
      schedule: { type: 'string' },
      warmup: { type: 'string' },
      'weight-decay': { type: 'string' },
      momentum: { type: 'string' },
      clip: { type: 'string' },
      'all-tokens': { type: 'boolean' },
      checkpointing: { type: 'boolean' },
      template: { type: 'string' },
      seed: { type: 'string' },
      threads: { type: 'string' },
      resume: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'lisa-gamma': { type: 'string' },
      'lisa-period': { type: 'string' },
      'zo-eps': { type: 'string' },
      'zo-queries': { type: 'string' },
      'zo-one-sided': { type: 'boolean' },
      'zo-target': { type: 'string' },
      'lora-targets': { type: 'string' },
      'lora-r': { type: 'string' },
      'lora-alpha': { type: 'string' },
      rslora: { type: 'boolean' },
      'lora-dropout': { type: 'string' },
      'train-embeddings': { type: 'boolean' },
      'train-head': { type: 'boolean' },
      json: { type: 'boolean' },
      'ignore-memory-check': { type: 'boolean' },
    });
    const ignoreMemory = values['ignore-memory-check'] ?? false;
    if (values.resume !== undefined) return resumeRun(values.resume, values.steps, values.json ?? false, ignoreMemory, io);
    if (!values.model) throw new UsageError('train needs --model DIR');
    if ((values.data === undefined) === (values.dataset === undefined)) throw new UsageError('train needs exactly one of --data FILE or --dataset ID');
    if (!values.steps) throw new UsageError('train needs --steps N');
    if (!values.out) throw new UsageError('train needs --out DIR');
    const draft = {
      kind: 'train',
      method: values.method ?? 'full',
      model: resolve(values.model),
      datasetId: 0, // filled in below, once the data is in the database
      out: resolve(values.out),
      steps: parseIntOption('steps', values.steps, 1, 1, 10_000_000),
      lr: parseNumberOption('lr', values.lr, 1e-4, 1e-12, 1),
      seqLen: parseIntOption('seq-len', values['seq-len'], 512, 2, 1 << 20),
      batchSize: parseIntOption('batch-size', values['batch-size'], 1, 1, 4096),
      gradAccum: parseIntOption('grad-accum', values['grad-accum'], 1, 1, 4096),
      optimizer: values.optimizer ?? 'adamw',
      schedule: values.schedule ?? 'cosine',
      warmupSteps: parseIntOption('warmup', values.warmup, 0, 0, 10_000_000),
      weightDecay: parseNumberOption('weight-decay', values['weight-decay'], 0, 0, 10),
      momentum: parseNumberOption('momentum', values.momentum, 0, 0, 1),
      maxGradNorm: parseNumberOption('clip', values.clip, 1, 0, 1e6),
      responsesOnly: !values['all-tokens'],
      checkpointing: values.checkpointing ?? false,
      template: values.template,
      seed: parseIntOption('seed', values.seed, 0, 0, 2 ** 31 - 1),
      threads: parseIntOption('threads', values.threads, 0, 0, 1024),
      checkpointEvery: parseIntOption('checkpoint-every', values['checkpoint-every'], 50, 0, 10_000_000),
      lisaGamma: parseIntOption('lisa-gamma', values['lisa-gamma'], 2, 1, 100_000),
      lisaPeriod: parseIntOption('lisa-period', values['lisa-period'], 20, 1, 10_000_000),
      zoEps: parseNumberOption('zo-eps', values['zo-eps'], 1e-3, 1e-12, 10),
      zoQueries: parseIntOption('zo-queries', values['zo-queries'], 1, 1, 64),
      zoOneSided: values['zo-one-sided'] ?? false,
      zoTarget: values['zo-target'] ?? 'all',
      loraTargets: parseLoraTargets(values['lora-targets']),
      loraR: parseIntOption('lora-r', values['lora-r'], 16, 1, 4096),
      loraAlpha: parseNumberOption('lora-alpha', values['lora-alpha'], 32, 1e-6, 1e6),
      loraRslora: values.rslora ?? false,
      loraDropout: parseNumberOption('lora-dropout', values['lora-dropout'], 0.05, 0, 0.9),
      loraTrainEmbeddings: values['train-embeddings'] ?? false,
      loraTrainHead: values['train-head'] ?? false,
    };
    // Validate every option before importing anything.
    const checked = TrainSpecSchema.safeParse({ ...draft, datasetId: 1 });
    if (!checked.success) throw new UsageError(describeIssues(checked.error).replaceAll('params.', '--'));

    // Paths that cannot work fail before the data is read or a process starts.
    requireModelFolder(draft.model);
    checkWritableFolder(draft.out);

    return withContext(io, async (ctx) => {
      let datasetId: number;
      if (values.dataset !== undefined) datasetId = parseIntOption('dataset', values.dataset, 0, 1, 2 ** 31 - 1);
      else {
        const file = resolve(values.data!);
        const importOptions: ImportOptions = { name: basename(values.data!) };
        try {
          // The same file trained on again uses the dataset it gave last time instead of a new copy.
          const same = findIdenticalDataset(ctx.db, file, resolveImportFormat(file, importOptions), importOptions);
          if (same) {
            datasetId = same.id;
            io.out(`using dataset ${same.id} (same content as ${values.data}): ${same.trainCount} training and ${same.valCount} validation examples`);
          } else {
            const { dataset } = importDataset(ctx.db, file, importOptions);
            datasetId = dataset.id;
            io.out(`imported ${values.data} as dataset ${dataset.id}: ${dataset.trainCount} training and ${dataset.valCount} validation examples`);
          }
        } catch (err) {
          if (err instanceof ImportRejectedError) {
            io.err(err.message);
            io.err('nothing was imported or trained; fix the rows, or import the valid ones with "tunesmith data import --keep-valid"');
            return 1;
          }
          throw err;
        }
      }
      return startAndFollow(ctx, { ...checked.data, datasetId }, values.json ?? false, ignoreMemory, io);
    });
  },
};

/** A preset name, or a comma-separated list of module names (validated by the spec schema). */
function parseLoraTargets(value: string | undefined): string | string[] {
  if (value === undefined) return 'all-linear';
  return value.includes(',') || ['q', 'k', 'v', 'o', 'gate', 'up', 'down'].includes(value) ? value.split(',').map((t) => t.trim()) : value;
}

/** Starts a training run and reports on it until it ends. */
async function startAndFollow(ctx: AppContext, spec: TrainSpec, json: boolean, ignoreMemoryCheck: boolean, io: CliIo): Promise<number> {
  // The same memory check as the app's jobs.start; a user who knows better may insist.
  const budget = ignoreMemoryCheck ? undefined : await ctx.trainingBudget();
  const run = ctx.jobs.start(spec, undefined, { budget, ignoreMemoryCheck, overrideHint: 'tunesmith train --ignore-memory-check' });
  if (!json) io.out(`run ${run.id}: ${run.name}`);
  const ended = await followRun(ctx, io, run.id, { quiet: json });
  if (json) {
    io.out(JSON.stringify(ended, null, 2));
  } else if (ended.state === 'succeeded') {
    const r = ended.result as TrainResult;
    const peak = Math.max(0, ...listMetrics(ctx.db, run.id).map((m) => m.memBytes ?? 0));
    io.out(`done: ${r.stepsDone} steps, final loss ${r.finalLoss?.toFixed(4)}, ${r.trainableParameters.toLocaleString('en-US')} parameters trained, engine peak memory ${formatBytes(peak)}; ${r.adapter ? `adapter written to ${r.adapter}` : `model written to ${r.model}`}`);
  } else io.err(`training ${ended.state}${ended.error ? `: ${ended.error}` : ''} (run ${run.id})`);
  return ended.state === 'succeeded' ? 0 : 1;
}

/** --resume RUN_DIR: the run's own spec, from its newest complete checkpoint (as the app's runs.resume). */
async function resumeRun(dir: string, steps: string | undefined, json: boolean, ignoreMemoryCheck: boolean, io: CliIo): Promise<number> {
  const total = steps === undefined ? undefined : parseIntOption('steps', steps, 1, 1, 10_000_000);
  return withContext(io, async (ctx) => {
    // Before its checkpoints are read (a live trainer is still writing and pruning them) and before
    // saying it resumes; jobs.start checks it again.
    refuseIfRunFolderBusy(ctx.db, runFolder(dir).dir);
    const { spec, fromStep } = await resumeSpec(dir, total);
    io.out(`resuming ${runFolder(dir).dir} from step ${fromStep} of ${spec.steps}`);
    return startAndFollow(ctx, spec, json, ignoreMemoryCheck, io);
  });
}
