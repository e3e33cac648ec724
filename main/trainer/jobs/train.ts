// The `train` job: fine-tunes a model on a stored dataset's training split (templated for the model,
// responses only by default) with the engine's method of choice (full, LISA, zeroth-order),
// reporting a metric and a progress line per optimizer step, checkpointing into the run folder, and
// writing the trained model as a Hugging Face folder at the end. Cancelling writes a checkpoint
// first, so a cancelled run can be resumed; so can one that crashed, from its last checkpoint. A
// step whose loss or gradient is not finite fails the run before anything is saved from it.
import { rmSync } from 'node:fs';
import type { TrainSpec } from '../../api/contract.js';
import { loadEngine, type NativeTrainer } from '../../engine/native.js';
import { EpochOrder, makeMicroBatch } from '../../train/batches.js';
import { engineLoraOptions, engineTrainerOptions } from '../../train/engine-trainer-options.js';
import { checkpointDamage, fallbackMessage, fileChecksum } from '../../train/checkpoint-integrity.js';
import { divergence } from '../../train/divergence.js';
import { checkpointPath, listCheckpoints, markCheckpoint, prepareNewRunFolder, readCheckpointMark, runFolder, type CheckpointMark, type RunFolder } from '../../train/run-folder.js';
import { saveTrainedAdapter, saveTrainedModel } from '../../train/save-trained.js';
import type { JobContext } from './job-context.js';
import { loadSequences } from './train-sequences.js';

export interface TrainResult {
  runDir: string;
  /** The trained model (a Hugging Face folder), or null when cancelled or when an adapter was trained. */
  model: string | null;
  /** The trained LoRA adapter (a PEFT folder), for LoRA, QLoRA and zeroth-order over LoRA. */
  adapter: string | null;
  trainableParameters: number;
  stepsDone: number;
  finalLoss: number | null;
  examples: number;
  cancelled: boolean;
  /** The checkpoint to resume from, when one was written. */
  lastCheckpoint: string | null;
}

async function writeCheckpoint(trainer: NativeTrainer, folder: RunFolder, spec: TrainSpec, step: number, examples: number, trainExamples: number, datasetHash: string): Promise<string> {
  const path = checkpointPath(folder, step);
  await trainer.saveCheckpoint(path);
  const { sha256, bytes } = await fileChecksum(path);
  markCheckpoint(folder, { step, examples, datasetId: spec.datasetId, trainExamples, datasetHash, sha256, bytes });
  return path;
}

function removeCheckpoint(folder: RunFolder, step: number): void {
  rmSync(`${checkpointPath(folder, step)}.json`, { force: true }); // the sidecar first: without it the file does not count
  rmSync(checkpointPath(folder, step), { force: true });
}

/**
 * Checks the checkpoint to resume from against its recorded checksum, and clears the checkpoints
 * after it: they were passed over as damaged (said here, with why), or belong to steps this run
 * redoes, and would otherwise outrank its own checkpoints when old ones are pruned.
 */
async function prepareResume(folder: RunFolder, file: string, resume: CheckpointMark, ctx: JobContext): Promise<void> {
  const damage = await checkpointDamage(file, resume);
  if (damage !== null) throw new Error(`checkpoint ${file} is damaged (${damage}): resume from an earlier one`);
  for (const later of listCheckpoints(folder).filter((m) => m.step > resume.step).reverse()) {
    const reason = await checkpointDamage(checkpointPath(folder, later.step), later);
    if (reason !== null) ctx.log('warn', fallbackMessage({ step: later.step, reason }, resume.step));
    removeCheckpoint(folder, later.step);
  }
}

/**
 * After a diverged step: nothing is saved from it, and a checkpoint of the step before goes too — the
 * diverged step's loss and gradient were computed on exactly those weights, so resuming from them
 * diverges again. Says which checkpoint is left to resume from.
 */
function stopDiverged(folder: RunFolder, step: number, lastCheckpoint: string | null, ctx: JobContext): void {
  if (lastCheckpoint === checkpointPath(folder, step - 1)) {
    removeCheckpoint(folder, step - 1);
    ctx.log('warn', `checkpoint step ${step - 1} removed: the diverged step started from its weights`);
  }
  const kept = listCheckpoints(folder).at(-1);
  if (kept) ctx.log('info', `the checkpoint at step ${kept.step} is kept; resume with: tunesmith train --resume ${folder.dir}`);
}

export async function runTrain(spec: TrainSpec, ctx: JobContext, databasePath: string | null): Promise<TrainResult> {
  const folder = runFolder(spec.out);
  const resume = spec.resumeFrom ? readCheckpointMark(spec.resumeFrom) : null;
  if (!resume) prepareNewRunFolder(folder, spec); // fail before any work, not after it
  const { sequences, padId, datasetHash } = await loadSequences(databasePath, spec, ctx);
  if (resume && resume.trainExamples !== sequences.length) {
    throw new Error(`dataset ${spec.datasetId} now gives ${sequences.length} training examples, the checkpoint was made with ${resume.trainExamples}: it cannot be resumed exactly`);
  }

  const engine = loadEngine();
  const model = await engine.loadModel(spec.model, { threads: spec.threads });
  const config = model.config();
  const maxId = Math.max(...sequences.map((s) => Math.max(...s.ids)));
  if (maxId >= config.vocabSize) throw new Error(`the tokenizer produced id ${maxId}, outside the model's vocabulary of ${config.vocabSize}`);
  model.setCheckpointing(spec.checkpointing);
  const lora = engineLoraOptions(spec);
  if (lora) await model.attachLora(lora); // before the trainer: it trains what is trainable then
  const trainer = new engine.Trainer(model, engineTrainerOptions(spec));
  // LISA trains a subset at a time: the step results say how many (the largest seen is reported).
  let trainable = model.trainableParameters();
  let lisaTrainable = 0;
  ctx.log('info', `model ${spec.model}: ${model.numParameters().toLocaleString('en-US')} parameters, ${trainable.toLocaleString('en-US')} trained; method ${spec.method}`);

  const order = new EpochOrder(sequences.length, spec.seed);
  const perStep = spec.batchSize * spec.gradAccum;
  let stepsDone = 0;
  let examples = 0;
  if (resume) {
    await prepareResume(folder, spec.resumeFrom!, resume, ctx);
    await trainer.loadCheckpoint(spec.resumeFrom!);
    // The data order is a pure function of the seed: replay it up to where the checkpoint was.
    for (; examples < resume.examples; examples++) order.take();
    stepsDone = resume.step;
    ctx.log('info', `resumed from ${spec.resumeFrom} at step ${stepsDone}`);
  }

  let cancelled = false;
  ctx.onCancel(() => (cancelled = true));
  let finalLoss: number | null = null;
  let lastCheckpoint: string | null = spec.resumeFrom ?? null;
  while (stepsDone < spec.steps && !cancelled) {
    const step = stepsDone + 1;
    const micro = Array.from({ length: spec.gradAccum }, () =>
      makeMicroBatch(Array.from({ length: spec.batchSize }, () => sequences[order.take()]!), padId),
    );
    examples += perStep;
    const started = performance.now();
    const r = await trainer.step(micro);
    const seconds = (performance.now() - started) / 1000;
    const diverged = divergence(step, r, spec);
    if (diverged !== null) {
      stopDiverged(folder, step, lastCheckpoint, ctx);
      throw new Error(diverged);
    }
    stepsDone = step;
    finalLoss = r.loss;
    if (r.activeParameters !== undefined) lisaTrainable = Math.max(lisaTrainable, r.activeParameters);
    if (spec.checkpointEvery > 0 && step % spec.checkpointEvery === 0 && step < spec.steps) {
      lastCheckpoint = await writeCheckpoint(trainer, folder, spec, step, examples, sequences.length, datasetHash);
    }
    const tokens = micro.reduce((n, m) => n + m.realTokens, 0);
    const tokensPerS = tokens / Math.max(seconds, 1e-9);
    ctx.metric({ step, loss: r.loss, lr: r.lr, tokensPerS, memBytes: r.memory.peakBytes, gradNorm: r.gradNorm });
    const extra = r.activeLayers ? `, layers ${r.activeLayers.join(',')}` : r.projectedGrad !== undefined ? `, projected grad ${r.projectedGrad.toExponential(2)}` : '';
    ctx.progress(step, spec.steps, `step ${step}/${spec.steps}: loss ${r.loss.toFixed(4)}, lr ${r.lr.toExponential(2)}, ${Math.round(tokensPerS)} tok/s${extra}`);
  }

  if (lisaTrainable > 0) trainable = lisaTrainable;
  if (cancelled) {
    if (stepsDone > 0 && lastCheckpoint !== checkpointPath(folder, stepsDone)) {
      lastCheckpoint = await writeCheckpoint(trainer, folder, spec, stepsDone, examples, sequences.length, datasetHash);
      ctx.log('info', `cancelled at step ${stepsDone}; checkpoint written, resume with: tunesmith train --resume ${folder.dir}`);
    }
    return { runDir: folder.dir, model: null, adapter: null, trainableParameters: trainable, stepsDone, finalLoss, examples: sequences.length, cancelled: true, lastCheckpoint };
  }

  const done = { runDir: folder.dir, trainableParameters: trainable, stepsDone, finalLoss, examples: sequences.length, cancelled: false, lastCheckpoint };
  if (lora) {
    ctx.log('info', `writing the LoRA adapter to ${folder.adapter}`);
    // A run resumed to train longer replaces what it wrote before.
    return { ...done, model: null, adapter: await saveTrainedAdapter(model, spec.model, folder.adapter, { replace: resume !== null }) };
  }
  ctx.log('info', `writing the trained model to ${folder.model}`);
  return { ...done, model: await saveTrainedModel(model, spec.model, folder.model, { replace: resume !== null }), adapter: null };
}
