// `tunesmith export --format recipe` as a user runs it: the folder it writes (data as the run saw
// it, the step order, settings, configs), starting weights from a checkpoint, and the refusals.
// What the recipe trains is checked against Tunesmith with Python in recipe-accelerate.test.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packagePath } from '../../../main/paths.js';
import { EpochOrder } from '../../../main/train/batches.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { tempHome } from '../../helpers/temp-home.js';

const tmp = tempHome();
afterAll(() => tmp.cleanup());

function tunesmith(...args: string[]) {
  const r = spawnSync(process.execPath, [packagePath('bin', 'tunesmith.js'), '--home', join(tmp.dir, 'home'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const readJsonl = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { input_ids: number[]; labels: number[] });

describe.skipIf(!haveAssets)('export --format recipe', () => {
  const run = join(tmp.dir, 'lora-run');
  beforeAll(() => {
    const data = join(tmp.dir, 'stories.jsonl');
    const rows = ['Lily had a red ball.', 'Tom saw a big tree.', 'The sun was hot.', 'Max ran in the park.', 'Sam can swim fast.', 'Mia found a cat.', 'Ben ate a cake.'];
    writeFileSync(data, rows.map((o, i) => JSON.stringify({ instruction: `Story ${i}`, input: '', output: o })).join('\n') + '\n');
    const imported = tunesmith('data', 'import', data, '--val-fraction', '0.3');
    expect(imported.code, imported.stderr).toBe(0);
    const trained = tunesmith('train', '--model', stories260K, '--dataset', '1', '--method', 'lora', '--lora-targets', 'qv', '--lora-r', '4', '--steps', '3', '--batch-size', '2', '--grad-accum', '2', '--seed', '5', '--checkpoint-every', '2', '--out', run);
    expect(trained.code, trained.stderr + trained.stdout).toBe(0);
  });

  it('writes the tokenized examples, the order the run took them in, the settings and the accelerate configs', () => {
    const out = join(tmp.dir, 'recipe');
    const r = tunesmith('export', '--run', run, '--format', 'recipe', '--out', out, '--gpus', '4', '--nodes', '2', '--json');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ format: 'recipe', out });
    expect(result.launch).toContain('accelerate launch --config_file accelerate/fsdp.yaml');
    for (const f of ['train.py', 'requirements.txt', 'README.md', 'recipe.json', 'accelerate/fsdp.yaml', 'accelerate/deepspeed-zero3.yaml']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readFileSync(join(out, 'train.py'), 'utf8')).toBe(readFileSync(packagePath('main', 'export', 'recipe', 'train.py'), 'utf8'));

    const train = readJsonl(join(out, 'data', 'train.jsonl'));
    const val = readJsonl(join(out, 'data', 'val.jsonl'));
    expect(train.length + val.length).toBe(7);
    for (const row of [...train, ...val]) {
      expect(row.labels.length).toBe(row.input_ids.length);
      // Labels are the tokens themselves where the loss counts (the response) and -100 elsewhere.
      row.labels.forEach((l, i) => expect(l === -100 || l === row.input_ids[i]).toBe(true));
      const firstTarget = row.labels.findIndex((l) => l !== -100);
      expect(firstTarget).toBeGreaterThan(0); // the prompt is masked
      expect(row.labels.slice(firstTarget).every((l) => l !== -100)).toBe(true);
    }

    // Three steps of 2 × 2 examples, in the train job's seeded order.
    const order = new EpochOrder(train.length, 5);
    const expected = Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => order.take()).join(' '));
    expect(readFileSync(join(out, 'data', 'order.txt'), 'utf8')).toBe(expected.join('\n') + '\n');

    const recipe = JSON.parse(readFileSync(join(out, 'recipe.json'), 'utf8'));
    expect(recipe).toMatchObject({ format: 1, method: 'lora', model: stories260K, steps: 3, first_step: 0, batch_size: 2, grad_accum: 2, seed: 5, start: null });
    expect(recipe.lora).toMatchObject({ r: 4, target_modules: ['q_proj', 'v_proj'], modules_to_save: [] });
    expect(recipe.optimizer).toMatchObject({ name: 'adamw', betas: [0.9, 0.999], eps: 1e-8 });

    const fsdp = readFileSync(join(out, 'accelerate', 'fsdp.yaml'), 'utf8');
    expect(fsdp).toMatch(/^distributed_type: FSDP$/m);
    expect(fsdp).toMatch(/^num_machines: 2$/m);
    expect(fsdp).toMatch(/^num_processes: 8 /m);
    const ds = readFileSync(join(out, 'accelerate', 'deepspeed-zero3.yaml'), 'utf8');
    expect(ds).toMatch(/^ {2}zero_stage: 3$/m);
    expect(ds).toMatch(/^ {2}gradient_accumulation_steps: 2 /m);
    const readme = readFileSync(join(out, 'README.md'), 'utf8');
    expect(readme).toContain('--machine_rank 1 --main_process_ip MAIN_NODE_ADDRESS train.py');
    expect(readme).toContain('2 examples per micro-batch × 2 micro-batches of accumulation = 4 examples per optimizer step');
  });

  it('--from-step: starts from the checkpoint weights and the rest of the data order', () => {
    const out = join(tmp.dir, 'recipe-from-2');
    const r = tunesmith('export', '--run', run, '--format', 'recipe', '--out', out, '--from-step', '2', '--gpus', '2');
    expect(r.code, r.stderr).toBe(0);
    const recipe = JSON.parse(readFileSync(join(out, 'recipe.json'), 'utf8'));
    expect(recipe).toMatchObject({ first_step: 2, start: { step: 2, adapter: 'start/adapter' } });
    expect(readFileSync(join(out, 'data', 'order.txt'), 'utf8').trim().split('\n')).toHaveLength(1);
    const adapter = join(out, 'start', 'adapter', 'adapter_model.safetensors');
    // The step-2 weights, not the run's final ones, and an adapter Tunesmith loads.
    expect(readFileSync(adapter).equals(readFileSync(join(run, 'adapter', 'adapter_model.safetensors')))).toBe(false);
    const s = tunesmith('score', '--model', stories260K, '--adapter', join(out, 'start', 'adapter'), '--text', 'Lily had a red ball.', '--json');
    expect(s.code, s.stderr).toBe(0);

    const missing = tunesmith('export', '--run', run, '--format', 'recipe', '--out', join(tmp.dir, 'nope'), '--from-step', '1');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('has no checkpoint of step 1: it has steps 2');
    expect(existsSync(join(tmp.dir, 'nope'))).toBe(false);
    // The last step leaves nothing to train: its model or adapter is exported as peft or merged.
    const last = tunesmith('export', '--run', run, '--format', 'recipe', '--out', join(tmp.dir, 'nope'), '--from-step', '3');
    expect(last.code).toBe(1);
    expect(last.stderr).toContain('--from-step 3: the run has 3 steps; a recipe starts from a checkpoint before the last');
  });

  it('refuses zeroth-order runs and recipe options on other formats', () => {
    // A zeroth-order run's folder: the refusal comes from its run.json, before anything is read or written.
    const zo = join(tmp.dir, 'zo-run');
    mkdirSync(zo);
    const spec = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')).spec;
    writeFileSync(join(zo, 'run.json'), JSON.stringify({ format: 1, spec: { ...spec, method: 'zo-sgd', out: zo } }));
    const r = tunesmith('export', '--run', zo, '--format', 'recipe', '--out', join(tmp.dir, 'zo-recipe'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('zo-sgd, a zeroth-order method');
    expect(r.stderr).toContain('no distributed zeroth-order trainer exists');
    const flag = tunesmith('export', '--run', run, '--format', 'peft', '--out', join(tmp.dir, 'peft'), '--gpus', '2');
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--gpus applies to --format recipe only');
  });
});
