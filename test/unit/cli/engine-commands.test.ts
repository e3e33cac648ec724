// score, generate and train as a user runs them: the bin script in a child process, the trainer
// process underneath, on the real stories260K-hf and on a freshly generated random model.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../db/database.js';
import { listMetrics } from '../../../db/metrics.js';
import { packagePath } from '../../../main/paths.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { writeRandomModel } from '../../helpers/random-model.js';
import { tempHome } from '../../helpers/temp-home.js';

const tmp = tempHome();
afterAll(() => tmp.cleanup());

function tunesmith(...args: string[]) {
  const r = spawnSync(process.execPath, [packagePath('bin', 'tunesmith.js'), '--home', join(tmp.dir, 'home'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!haveAssets)('engine commands', () => {
  let randomModel: string;
  const data = join(tmp.dir, 'qa.jsonl');
  beforeAll(async () => {
    randomModel = await writeRandomModel(join(tmp.dir, 'random-gqa'));
    const rows = ['Max liked to run in the park.', 'Lily had a red ball.', 'Tom saw a big tree.', 'The sun was hot today.', 'Sam can swim fast.', 'Mia found a cat.'];
    writeFileSync(data, rows.map((r, i) => JSON.stringify({ instruction: `Tell me story ${i}`, input: '', output: r })).join('\n') + '\n');
  });

  it('generate: greedy stories260K-hf continues "Once upon a time" as the reference does', () => {
    const r = tunesmith('generate', '--model', stories260K, '--prompt', 'Once upon a time', '--max-tokens', '26', '--temperature', '0');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Once upon a time, there was a little girl named Lily\. She loved to play outside in the park/);
  });

  it('generate: stops at a stop string', () => {
    const r = tunesmith('generate', '--model', stories260K, '--prompt', 'Once upon a time', '--stop', 'Lily', '--json');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.stopReason).toBe('stop-string');
    expect(result.text).toBe(', there was a little girl named ');
  });

  it('score: per-token log-probabilities, NLL and perplexity agree with each other', () => {
    const r = tunesmith('score', '--model', stories260K, '--text', 'Once upon a time, there was a little girl named Lily.', '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.count).toBe(s.tokens.length);
    const sum = s.tokens.reduce((a: number, t: { logprob: number }) => a + t.logprob, 0);
    expect(s.totalNll).toBeCloseTo(-sum, 10);
    expect(s.perplexity).toBeCloseTo(Math.exp(s.totalNll / s.count), 10);
    expect(s.tokens[0]).toMatchObject({ id: 403, token: '▁Once' });
    // The model knows its own story: well under a perplexity of 3.
    expect(s.perplexity).toBeLessThan(3);
  });

  it('score and generate work on a freshly generated random model', () => {
    const g = tunesmith('generate', '--model', randomModel, '--prompt', 'Hello', '--max-tokens', '5', '--json');
    expect(g.code, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout).tokenIds.length).toBeGreaterThan(0);
    const s = tunesmith('score', '--model', randomModel, '--text', 'Once upon a time', '--json');
    expect(s.code, s.stderr).toBe(0);
    // A random model is close to uniform over its 512 tokens.
    expect(JSON.parse(s.stdout).perplexity).toBeGreaterThan(100);
  });

  it('train --method full: imports the data, trains, records metrics, writes a model that loads', () => {
    const out = join(tmp.dir, 'trained');
    const r = tunesmith('train', '--model', stories260K, '--data', data, '--method', 'full', '--steps', '6', '--lr', '2e-3', '--seq-len', '64', '--batch-size', '2', '--out', out);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/imported .* as dataset 1/);
    expect(r.stdout).toMatch(/step 6\/6: loss \d+\.\d+, lr .*, \d+ tok\/s/);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) expect(existsSync(join(out, 'model', f)), f).toBe(true);
    expect(existsSync(join(out, 'run.json'))).toBe(true);

    const db = openDatabase(join(tmp.dir, 'home', 'tunesmith.db'));
    const metrics = listMetrics(db, 1);
    db.close();
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(metrics.at(-1)!.loss!).toBeLessThan(metrics[0]!.loss!);

    const s = tunesmith('score', '--model', join(out, 'model'), '--text', 'Lily had a red ball.', '--json');
    expect(s.code, s.stderr).toBe(0);
    // Refuses to overwrite the run folder it just wrote.
    const again = tunesmith('train', '--model', stories260K, '--dataset', '1', '--steps', '1', '--out', out);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists and is not empty: choose a new folder, or resume it with --resume');
  });

  it('train on the random model with SGD and checkpointing', () => {
    const out = join(tmp.dir, 'trained-random');
    const r = tunesmith('train', '--model', randomModel, '--dataset', '1', '--steps', '3', '--optimizer', 'sgd', '--momentum', '0.9', '--lr', '0.05', '--checkpointing', '--schedule', 'constant', '--out', out);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(existsSync(join(out, 'model', 'model.safetensors'))).toBe(true);
  });

  it('trains with every method the engine has', () => {
    for (const method of ['lisa', 'zo-sgd', 'zo-sgd-sign', 'zo-sgd-mmt', 'zo-sgd-cons', 'zo-adam', 'forward-grad']) {
      const out = join(tmp.dir, `method-${method}`);
      const r = tunesmith('train', '--model', randomModel, '--dataset', '1', '--method', method, '--steps', '2', '--lr', '1e-4', '--lisa-gamma', '1', '--out', out);
      expect(r.code, `${method}: ${r.stderr}${r.stdout}`).toBe(0);
      expect(r.stdout, method).toMatch(method === 'lisa' ? /step 2\/2: .*layers \d/ : /step 2\/2: .*projected grad/);
      expect(existsSync(join(out, 'model', 'model.safetensors')), method).toBe(true);
    }
  });

  it('LoRA and QLoRA: train an adapter, export it as PEFT and merged, score with it', () => {
    for (const method of ['lora', 'qlora']) {
      const run = join(tmp.dir, `${method}-run`);
      const r = tunesmith('train', '--model', stories260K, '--dataset', '1', '--method', method, '--steps', '4', '--lr', '1e-2', '--lora-r', '4', '--lora-alpha', '8', '--lora-targets', 'q,v,down', '--out', run);
      expect(r.code, `${method}: ${r.stderr}${r.stdout}`).toBe(0);
      // r=4 on q (64→64), v (64→32) and down (172→64) in 5 layers: 5 × 4 × (128 + 96 + 236) = 9,200.
      expect(r.stdout).toMatch(/done: 4 steps, .* 9,200 parameters trained, .*adapter written to/);
      const peft = tunesmith('export', '--run', run, '--format', 'peft', '--out', join(tmp.dir, `${method}-peft`), '--json');
      expect(peft.code, peft.stderr).toBe(0);
      expect(existsSync(join(tmp.dir, `${method}-peft`, 'adapter_model.safetensors'))).toBe(true);
      const merged = tunesmith('export', '--run', run, '--format', 'merged', '--dtype', 'f32', '--out', join(tmp.dir, `${method}-merged`), '--json');
      expect(merged.code, merged.stderr).toBe(0);
      expect(JSON.parse(merged.stdout).reloadRelError).toBeLessThan(1e-5);

      const text = 'Lily had a red ball.';
      const withAdapter = JSON.parse(tunesmith('score', '--model', stories260K, '--adapter', join(tmp.dir, `${method}-peft`), '--text', text, '--json', ...(method === 'qlora' ? ['--quant', 'nf4'] : [])).stdout);
      const fromMerged = JSON.parse(tunesmith('score', '--model', join(tmp.dir, `${method}-merged`), '--text', text, '--json').stdout);
      expect(Math.abs(fromMerged.totalNll - withAdapter.totalNll) / withAdapter.totalNll, method).toBeLessThan(1e-4);
    }
  });

  it('score --quant nf4 shows what 4-bit costs: close to, and not better than, fp32 on its own story', () => {
    const text = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.';
    const fp32 = JSON.parse(tunesmith('score', '--model', stories260K, '--text', text, '--json').stdout);
    const nf4 = JSON.parse(tunesmith('score', '--model', stories260K, '--text', text, '--json', '--quant', 'nf4').stdout);
    expect(nf4.perplexity).not.toBe(fp32.perplexity);
    expect(nf4.perplexity / fp32.perplexity).toBeGreaterThan(0.9);
    expect(nf4.perplexity / fp32.perplexity).toBeLessThan(2);
  });

  it('export refuses a PEFT export of a full-weight run', () => {
    const r = tunesmith('export', '--run', join(tmp.dir, 'trained'), '--format', 'peft', '--out', join(tmp.dir, 'nope'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('trained all weights with full: there is no adapter to export; use --format merged');
  });

  it('explains bad training input before starting', () => {
    const noModel = tunesmith('train', '--model', join(tmp.dir, 'missing'), '--dataset', '1', '--steps', '1', '--out', join(tmp.dir, 'x'));
    expect(noModel.code).toBe(1);
    expect(noModel.stderr).toMatch(/missing does not exist: expected a Hugging Face model folder/);
    const badLr = tunesmith('train', '--model', stories260K, '--dataset', '1', '--steps', '1', '--lr=-1', '--out', join(tmp.dir, 'y'));
    expect(badLr.code).toBe(2);
    expect(badLr.stderr).toContain('--lr must be a number');
    const noDataset = tunesmith('train', '--model', stories260K, '--dataset', '99', '--steps', '1', '--out', join(tmp.dir, 'z'));
    expect(noDataset.stderr).toContain('no dataset with id 99');
  });
});
