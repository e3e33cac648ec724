// The `export` job's recipe format: a folder that trains a run again on a cluster with Hugging Face
// accelerate (FSDP or DeepSpeed ZeRO-3). It holds the run's examples tokenized as the train job
// tokenized them, the order each optimizer step took them in (the same EpochOrder and seed), the
// settings as recipe.json, the script (main/export/recipe/train.py, copied as is), accelerate
// configs and a README. With fromStep, the run's weights at that checkpoint go in as the starting point.
// The folder is staged and renamed into place (staged-folder.ts): a crash never leaves half a recipe.
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ExportSpec, TrainSpec } from '../../api/contract.js';
import { loadEngine } from '../../engine/native.js';
import { deepspeedZero3Config, fsdpConfig } from '../../export/accelerate-configs.js';
import { recipeLaunchCommand, recipeReadme } from '../../export/recipe-readme.js';
import { recipeJson, recipeRefusal, recipeSettings, type RecipeStart } from '../../export/recipe-settings.js';
import { packagePath, packageVersion } from '../../paths.js';
import { EpochOrder, type TrainSequence } from '../../train/batches.js';
import { engineLoraOptions, engineTrainerOptions } from '../../train/engine-trainer-options.js';
import { checkpointPath, listCheckpoints, readRunSpec, runFolder, type RunFolder } from '../../train/run-folder.js';
import { checkOutputFolder, writeFolderStaged } from '../../train/staged-folder.js';
import { saveTrainedAdapter, saveTrainedModel } from '../../train/save-trained.js';
import type { ExportResult } from './export.js';
import type { JobContext } from './job-context.js';
import { loadSequences } from './train-sequences.js';

/** The script and its requirements, shipped with Tunesmith and copied into every recipe unchanged. */
const RECIPE_ASSETS = ['train.py', 'requirements.txt'];

/** One example per line: input_ids, and labels that are -100 where the loss does not count. */
function writeExamples(file: string, sequences: TrainSequence[]): void {
  const fd = openSync(file, 'w');
  try {
    for (const s of sequences) {
      const labels = s.ids.map((id, i) => (s.mask[i] === 1 ? id : -100));
      writeSync(fd, JSON.stringify({ input_ids: s.ids, labels }) + '\n');
    }
  } finally {
    closeSync(fd);
  }
}

/** The examples each optimizer step after `fromStep` took, one line per step: the train job's order. */
function writeOrder(file: string, spec: TrainSpec, examples: number, fromStep: number): void {
  const order = new EpochOrder(examples, spec.seed);
  const perStep = spec.batchSize * spec.gradAccum;
  for (let i = 0; i < fromStep * perStep; i++) order.take();
  const fd = openSync(file, 'w');
  try {
    for (let step = fromStep; step < spec.steps; step++) writeSync(fd, Array.from({ length: perStep }, () => order.take()).join(' ') + '\n');
  } finally {
    closeSync(fd);
  }
}

/** The run's weights at the checkpoint of `step`, loaded into the engine and written out as the train job writes its result. */
async function writeStartWeights(folder: RunFolder, spec: TrainSpec, step: number, recipeDir: string): Promise<RecipeStart> {
  const checkpoints = listCheckpoints(folder).map((c) => c.step);
  if (!checkpoints.includes(step)) {
    throw new Error(`run ${folder.dir} has no checkpoint of step ${step}: ${checkpoints.length ? `it has steps ${checkpoints.join(', ')}` : 'it has none'}`);
  }
  const lora = engineLoraOptions(spec);
  const relative = lora ? 'start/adapter' : 'start/model';
  const target = join(recipeDir, relative);
  mkdirSync(dirname(target), { recursive: true });
  const engine = loadEngine();
  const model = await engine.loadModel(spec.model, { threads: spec.threads });
  if (lora) await model.attachLora(lora);
  const trainer = new engine.Trainer(model, engineTrainerOptions(spec));
  await trainer.loadCheckpoint(checkpointPath(folder, step));
  if (lora) await saveTrainedAdapter(model, spec.model, target);
  else await saveTrainedModel(model, spec.model, target);
  return lora ? { step, adapter: relative } : { step, model: relative };
}

function tiedEmbeddings(modelDir: string): boolean {
  const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { tie_word_embeddings?: boolean };
  return config.tie_word_embeddings === true;
}

export async function runRecipeExport(spec: ExportSpec, ctx: JobContext, databasePath: string | null): Promise<ExportResult> {
  const folder = runFolder(spec.run);
  const run = readRunSpec(folder);
  const refusal = recipeRefusal(run);
  if (refusal) throw new Error(`run ${folder.dir}: ${refusal}`);
  const fromStep = spec.fromStep ?? 0;
  // The recipe trains the steps after its start: the last step leaves none (export the model or adapter instead).
  if (fromStep >= run.steps) throw new Error(`--from-step ${fromStep}: the run has ${run.steps} steps; a recipe starts from a checkpoint before the last`);
  const out = resolve(spec.out);
  checkOutputFolder(out, 'export folder'); // before the examples are tokenized: a taken folder fails at once

  ctx.progress(0, 3, 'templating and tokenizing the examples');
  const { sequences: train, padId } = await loadSequences(databasePath, run, ctx, 'train');
  const { sequences: val } = await loadSequences(databasePath, run, ctx, 'val');
  // A checkpoint records how many examples the run trained on: a dataset changed since would give a different order.
  const mark = listCheckpoints(folder).at(-1);
  if (mark && mark.trainExamples !== train.length) {
    throw new Error(`dataset ${run.datasetId} now gives ${train.length} training examples, the run trained on ${mark.trainExamples}: the recipe would not reproduce it`);
  }

  await writeFolderStaged(
    out,
    async (staging) => {
      mkdirSync(join(staging, 'data'));
      mkdirSync(join(staging, 'accelerate'));
      writeExamples(join(staging, 'data', 'train.jsonl'), train);
      writeExamples(join(staging, 'data', 'val.jsonl'), val);
      writeOrder(join(staging, 'data', 'order.txt'), run, train.length, fromStep);

      let start: RecipeStart | null = null;
      if (fromStep > 0) {
        ctx.progress(1, 3, `writing the run's weights at step ${fromStep}`);
        start = await writeStartWeights(folder, run, fromStep, staging);
      }

      ctx.progress(2, 3, 'writing the script and the accelerate configs');
      const settings = recipeSettings(run, { run: folder.dir, tunesmithVersion: packageVersion(), padId, tiedEmbeddings: tiedEmbeddings(run.model), start });
      const shape = { gpus: spec.gpus, nodes: spec.nodes };
      writeFileSync(join(staging, 'recipe.json'), recipeJson(settings));
      for (const name of RECIPE_ASSETS) copyFileSync(packagePath('main', 'export', 'recipe', name), join(staging, name));
      writeFileSync(join(staging, 'accelerate', 'fsdp.yaml'), fsdpConfig(shape));
      writeFileSync(join(staging, 'accelerate', 'deepspeed-zero3.yaml'), deepspeedZero3Config(shape, run));
      writeFileSync(join(staging, 'README.md'), recipeReadme(settings, shape, { train: train.length, val: val.length }));
    },
    { what: 'export folder' },
  );
  const launch = `cd ${out} && ${recipeLaunchCommand({ gpus: spec.gpus, nodes: spec.nodes })}`;
  ctx.progress(3, 3, `recipe written to ${out}; launch on the cluster with: ${launch}`);
  return { format: 'recipe', out, dtype: null, reloadRelError: null, launch };
}
