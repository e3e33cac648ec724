// The `train` job, full fine-tuning: every parameter trained with AdamW or SGD on a stored dataset's
// training split, templated for the model (responses only by default), then the trained model
// written as a Hugging Face folder. Reports a metric and a progress line per optimizer step.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { TrainSpec } from '../../api/contract.js';
import { getDataset } from '../../../db/datasets.js';
import { iterateTemplatedExamples } from '../../data/tokenized-dataset.js';
import { loadEngine } from '../../engine/native.js';
import { resolveChatTemplate, type BuiltinTemplateName } from '../../model/chat-template.js';
import { loadTokenizer } from '../../model/tokenizer.js';
import { EpochOrder, makeMicroBatch, type TrainSequence } from '../../train/batches.js';
import { checkOutputFolder, writeHfFolder } from '../../train/hf-folder.js';
import type { JobContext } from './job-context.js';

export interface TrainResult {
  out: string | null;
  stepsDone: number;
  finalLoss: number | null;
  examples: number;
  cancelled: boolean;
}

/** The training split, tokenized; examples with nothing to learn (no target token) are dropped. */
function loadSequences(databasePath: string, spec: TrainSpec, ctx: JobContext): { sequences: TrainSequence[]; padId: number } {
  const db = new Database(databasePath, { readonly: true, fileMustExist: true });
  try {
    const dataset = getDataset(db, spec.datasetId);
    if (!dataset) throw new Error(`no dataset with id ${spec.datasetId}`);
    const tokenizer = loadTokenizer(spec.model);
    const template = resolveChatTemplate(tokenizer, spec.template ?? ((dataset.template ?? undefined) as BuiltinTemplateName | 'model' | undefined));
    const sequences: TrainSequence[] = [];
    let dropped = 0;
    let truncated = 0;
    for (const row of iterateTemplatedExamples(db, spec.datasetId, tokenizer, template, {
      split: 'train',
      trainOnResponsesOnly: spec.responsesOnly,
      maxTokens: spec.seqLen,
    })) {
      if (row.truncated) truncated++;
      if (row.ids.length < 2 || !row.mask.some((m, i) => m === 1 && i > 0)) dropped++;
      else sequences.push({ ids: row.ids, mask: row.mask });
    }
    if (sequences.length === 0) throw new Error(`dataset ${spec.datasetId} ("${dataset.name}") has no training example with a token to learn`);
    ctx.log('info', `dataset "${dataset.name}": ${sequences.length} training examples${dropped ? `, ${dropped} without targets skipped` : ''}${truncated ? `, ${truncated} cut to ${spec.seqLen} tokens` : ''}`);
    const padId = tokenizer.eosTokenId ?? tokenizer.bosTokenId ?? 0;
    return { sequences, padId };
  } finally {
    db.close();
  }
}

export async function runTrainFull(spec: TrainSpec, ctx: JobContext, databasePath: string | null): Promise<TrainResult> {
  if (!databasePath) throw new Error('the trainer process was started without a database to read the dataset from');
  checkOutputFolder(spec.out); // fail before any work, not after it
  const { sequences, padId } = loadSequences(databasePath, spec, ctx);

  const engine = loadEngine();
  const model = await engine.loadModel(spec.model, { threads: spec.threads });
  const config = model.config();
  const maxId = Math.max(...sequences.map((s) => Math.max(...s.ids)));
  if (maxId >= config.vocabSize) throw new Error(`the tokenizer produced id ${maxId}, outside the model's vocabulary of ${config.vocabSize}`);
  model.setCheckpointing(spec.checkpointing);
  ctx.log('info', `model ${spec.model}: ${model.numParameters().toLocaleString('en-US')} parameters, all trained (full fine-tuning)`);

  const trainer = new engine.Trainer(model, {
    optimizer: spec.optimizer,
    lr: spec.lr,
    weightDecay: spec.weightDecay,
    momentum: spec.momentum,
    schedule: spec.schedule,
    warmupSteps: spec.warmupSteps,
    totalSteps: spec.steps,
    maxGradNorm: spec.maxGradNorm,
  });
  let cancelled = false;
  ctx.onCancel(() => (cancelled = true));

  const order = new EpochOrder(sequences.length, spec.seed);
  let finalLoss: number | null = null;
  let stepsDone = 0;
  for (let step = 1; step <= spec.steps && !cancelled; step++) {
    const micro = Array.from({ length: spec.gradAccum }, () =>
      makeMicroBatch(Array.from({ length: spec.batchSize }, () => sequences[order.take()]!), padId),
    );
    const started = performance.now();
    const r = await trainer.step(micro);
    const seconds = (performance.now() - started) / 1000;
    const tokens = micro.reduce((n, m) => n + m.realTokens, 0);
    finalLoss = r.loss;
    stepsDone = step;
    const tokensPerS = tokens / Math.max(seconds, 1e-9);
    ctx.metric({ step, loss: r.loss, lr: r.lr, tokensPerS, memBytes: r.memory.peakBytes, gradNorm: r.gradNorm });
    ctx.progress(step, spec.steps, `step ${step}/${spec.steps}: loss ${r.loss.toFixed(4)}, lr ${r.lr.toExponential(2)}, ${Math.round(tokensPerS)} tok/s`);
  }
  if (cancelled) return { out: null, stepsDone, finalLoss, examples: sequences.length, cancelled: true };

  ctx.log('info', `writing the trained model to ${spec.out}`);
  const out = await writeHfFolder({
    baseModel: spec.model,
    out: spec.out,
    torchDtype: 'float32',
    writeWeights: (folder) => model.save(join(folder, 'model.safetensors')),
  });
  return { out, stepsDone, finalLoss, examples: sequences.length, cancelled: false };
}
