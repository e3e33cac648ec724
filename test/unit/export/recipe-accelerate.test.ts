// A recipe trains what Tunesmith trained: a LoRA and a full run of stories260K-hf are exported and
// launched with accelerate on two CPU processes (each gets one of the batch's two rows), and the
// first step's loss must equal Tunesmith's; the output must load back in Tunesmith with the same
// held-out loss the recipe printed. Needs a Python with torch, transformers, peft and accelerate
// (CHECK_PYTHON, as for `npm run check:exports`); skipped with a message where there is none.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../db/database.js';
import { listMetrics } from '../../../db/metrics.js';
import { listRuns } from '../../../db/runs.js';
import { packagePath } from '../../../main/paths.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { tempHome } from '../../helpers/temp-home.js';

const python = process.env.CHECK_PYTHON || 'python3';
// Finding the packages is enough here (importing torch takes seconds); the launch imports them.
const probe = spawnSync(python, ['-c', 'import importlib.util, sys; sys.exit(any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "peft", "accelerate")))'], { encoding: 'utf8' });
const havePython = probe.status === 0;
if (!havePython) console.warn(`no Python with torch, transformers, peft and accelerate at "${python}" (set CHECK_PYTHON): the accelerate recipe test is skipped`);

/**
 * f32 on both sides, the same tokens and weights: only the summation order differs (measured
 * |Δ| ≤ 1e-6 on stories260K); printed with 6 decimals.
 */
const LOSS_TOLERANCE = 1e-5;
/** Two launches of two Python processes each take about 30 s on two busy cores; allow for more. */
const LAUNCH_TIMEOUT_MS = 300_000;

const tmp = tempHome();
afterAll(() => tmp.cleanup());

function tunesmith(...args: string[]) {
  const r = spawnSync(process.execPath, [packagePath('bin', 'tunesmith.js'), '--home', join(tmp.dir, 'home'), ...args], { encoding: 'utf8' });
  expect(r.status, `tunesmith ${args.join(' ')}\n${r.stderr}${r.stdout}`).toBe(0);
  return r.stdout;
}

/** Runs the recipe as its README says, two processes; without a GPU they train together on the CPU. */
function launch(recipe: string): { losses: number[]; valLoss: number; stdout: string } {
  const r = spawnSync(python, ['-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no', '--dynamo_backend', 'no', 'train.py', '--max-steps', '3'], {
    cwd: recipe,
    encoding: 'utf8',
    env: { ...process.env, HF_HOME: join(tmp.dir, 'hf'), CUDA_VISIBLE_DEVICES: '', OMP_NUM_THREADS: '1', TOKENIZERS_PARALLELISM: 'false' },
  });
  expect(r.status, r.stderr + r.stdout).toBe(0);
  expect(r.stdout).toContain('on 2 process(es): 1 rows per process x 2 x ');
  const losses = [...r.stdout.matchAll(/^step (\d+): loss (\S+)$/gm)].map((m) => Number(m[2]));
  const val = /^val loss: (\S+)$/m.exec(r.stdout);
  return { losses, valLoss: Number(val?.[1]), stdout: r.stdout };
}

function tunesmithLosses(runDir: string): number[] {
  const db = openDatabase(join(tmp.dir, 'home', 'tunesmith.db'));
  try {
    const run = listRuns(db, 1000).find((r) => r.kind === 'train' && (r.spec as { out: string }).out === runDir)!;
    return listMetrics(db, run.id).map((m) => m.loss!);
  } finally {
    db.close();
  }
}

function heldOutLoss(...modelArgs: string[]): number {
  return JSON.parse(tunesmith('eval', '--task', 'loss', '--dataset', '1', ...modelArgs, '--json')).meanNll;
}

describe.skipIf(!haveAssets || !havePython)('recipe on accelerate', () => {
  beforeAll(() => {
    const data = join(tmp.dir, 'stories.jsonl');
    const rows = ['Lily had a red ball.', 'Tom saw a big tree.', 'The sun was hot.', 'Max ran in the park.', 'Sam can swim fast.', 'Mia found a cat.'];
    writeFileSync(data, rows.map((o, i) => JSON.stringify({ instruction: `Story ${i}`, input: '', output: o })).join('\n') + '\n');
    tunesmith('data', 'import', data, '--val-fraction', '0.3');
  });

  it('LoRA: the first step has Tunesmith\'s loss; the adapter loads back with the recipe\'s held-out loss', () => {
    const run = join(tmp.dir, 'lora-run');
    tunesmith('train', '--model', stories260K, '--dataset', '1', '--method', 'lora', '--steps', '3', '--lr', '2e-2', '--lora-r', '4', '--lora-alpha', '8', '--batch-size', '2', '--out', run);
    const recipe = join(tmp.dir, 'lora-recipe');
    tunesmith('export', '--run', run, '--format', 'recipe', '--out', recipe, '--gpus', '2');
    const { losses, valLoss } = launch(recipe);
    const expected = tunesmithLosses(run);
    expect(losses).toHaveLength(3);
    // Only the first step: LoRA's A matrices start from PyTorch's generator, not the engine's.
    expect(Math.abs(losses[0]! - expected[0]!)).toBeLessThan(LOSS_TOLERANCE);
    expect(Math.abs(heldOutLoss('--model', stories260K, '--adapter', join(recipe, 'output')) - valLoss)).toBeLessThan(LOSS_TOLERANCE);
  }, LAUNCH_TIMEOUT_MS);

  it('full, with accumulation: every step has Tunesmith\'s loss; the model loads back with the recipe\'s held-out loss', () => {
    const run = join(tmp.dir, 'full-run');
    tunesmith('train', '--model', stories260K, '--dataset', '1', '--method', 'full', '--steps', '3', '--lr', '2e-3', '--batch-size', '2', '--grad-accum', '2', '--out', run);
    const recipe = join(tmp.dir, 'full-recipe');
    tunesmith('export', '--run', run, '--format', 'recipe', '--out', recipe, '--gpus', '2');
    const { losses, valLoss } = launch(recipe);
    const expected = tunesmithLosses(run);
    expect(losses).toHaveLength(3);
    // Nothing random in full fine-tuning: the same AdamW, schedule and clipping keep the steps together.
    losses.forEach((loss, i) => expect(Math.abs(loss - expected[i]!), `step ${i + 1}: ${loss} vs ${expected[i]}`).toBeLessThan(1e-4));
    expect(Math.abs(heldOutLoss('--model', join(recipe, 'output')) - valLoss)).toBeLessThan(LOSS_TOLERANCE);
  }, LAUNCH_TIMEOUT_MS);
});
