// tunesmith train: fine-tune a model on a dataset (a stored one, or a file imported on the spot),
// in a trainer process, with a progress line per step; the run, its metrics and its outcome are
// recorded like runs started from the app. Ctrl+C cancels.
import { basename, resolve } from 'node:path';
import { listMetrics } from '../../../db/metrics.js';
import { TrainSpecSchema, type TrainSpec } from '../../api/contract.js';
import { describeIssues } from '../../api/dispatch.js';
import { importDataset, ImportRejectedError } from '../../data/import-dataset.js';
import type { TrainResult } from '../../trainer/jobs/train-full.js';
import { followRun, formatBytes, parseIntOption, parseNumberOption, parseOptions, UsageError, withContext, type CliCommand } from '../command.js';

export const trainCommand: CliCommand = {
  name: 'train',
  summary: 'Fine-tune a model on a dataset and write the result as a Hugging Face folder',
  help: `Usage: tunesmith train --model DIR (--data FILE | --dataset ID) --steps N --out DIR [options]

  --model DIR          base model: a Hugging Face folder
  --data FILE          a data file, imported first (see "tunesmith data import" for formats
                       and options; its validation split is held out)
  --dataset ID         a dataset already imported
  --method M           full (default; more methods are coming)
  --steps N            optimizer steps
  --out DIR            where the trained model is written (must be new or empty)
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
      json: { type: 'boolean' },
    });
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
    };
    // Validate every option before importing anything.
    const checked = TrainSpecSchema.safeParse({ ...draft, datasetId: 1 });
    if (!checked.success) throw new UsageError(describeIssues(checked.error).replaceAll('params.', '--'));

    return withContext(io, async (ctx) => {
      let datasetId: number;
      if (values.dataset !== undefined) datasetId = parseIntOption('dataset', values.dataset, 0, 1, 2 ** 31 - 1);
      else {
        try {
          const { dataset } = importDataset(ctx.db, resolve(values.data!), { name: basename(values.data!) });
          datasetId = dataset.id;
          io.out(`imported ${values.data} as dataset ${dataset.id}: ${dataset.trainCount} training and ${dataset.valCount} validation examples`);
        } catch (err) {
          if (err instanceof ImportRejectedError) {
            io.err(err.message);
            io.err('nothing was imported or trained; fix the rows, or import the valid ones with "tunesmith data import --keep-valid"');
            return 1;
          }
          throw err;
        }
      }
      const spec: TrainSpec = { ...checked.data, datasetId };
      const run = ctx.jobs.start(spec);
      io.out(`run ${run.id}: ${run.name}`);
      const ended = await followRun(ctx, io, run.id, { quiet: values.json });
      if (values.json) {
        io.out(JSON.stringify(ended, null, 2));
      } else if (ended.state === 'succeeded') {
        const r = ended.result as TrainResult;
        const peak = Math.max(0, ...listMetrics(ctx.db, run.id).map((m) => m.memBytes ?? 0));
        io.out(`done: ${r.stepsDone} steps, final loss ${r.finalLoss?.toFixed(4)}, engine peak memory ${formatBytes(peak)}; model written to ${r.out}`);
      } else io.err(`training ${ended.state}${ended.error ? `: ${ended.error}` : ''} (run ${run.id})`);
      return ended.state === 'succeeded' ? 0 : 1;
    });
  },
};
