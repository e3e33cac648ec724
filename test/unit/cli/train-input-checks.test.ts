// `tunesmith train`, `export` and `data export` as a user meets them (in-process, through runCli,
// with a real trainer process): the same data file trained on again reuses its dataset, a batch
// larger than the training split is warned about, and unusable paths fail before any work.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../main/cli/main.js';
import { batchSizeWarning } from '../../../main/train/batches.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { tempHome } from '../../helpers/temp-home.js';

const tmp = tempHome();
afterAll(() => tmp.cleanup());

async function tunesmith(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['--home', join(tmp.dir, 'home'), ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const rows = (n: number, tag = '') => Array.from({ length: n }, (_, i) => JSON.stringify({ prompt: `Tell story ${i}${tag}`, completion: `Lily had ${i} red balls.` })).join('\n') + '\n';

async function datasetCount(): Promise<number> {
  return JSON.parse((await tunesmith('data', 'list', '--json')).out).length;
}

let runs = 0;
const train = (data: string, ...more: string[]) =>
  tunesmith('train', '--model', stories260K, '--data', data, '--method', 'lora', '--steps', '1', '--seq-len', '128', '--out', join(tmp.dir, `run-${runs++}`), ...more);
/**
 * A rank wider than stories260K's k_proj is refused by jobs.start, after the dataset is chosen and
 * before a trainer starts (the memory probe skipped): the dataset choice is printed, and no run.
 */
const chooseDataOnly = (data: string) => train(data, '--lora-r', '33', '--ignore-memory-check');

describe.skipIf(!haveAssets)('train, export and data export: inputs checked and reused', () => {
  const data = join(tmp.dir, 'stories.jsonl');
  writeFileSync(data, rows(10));

  it('train --data imports a file once; the same content again (under any name) reuses that dataset', async () => {
    const first = await chooseDataOnly(data);
    expect(first.out).toMatch(/^imported .*stories\.jsonl as dataset 1: 9 training and 1 validation examples$/m);
    expect(first.code).toBe(1);
    expect(first.err).toContain('LoRA rank 33 is larger than k_proj (32 wide: 64 in, 32 out)');
    expect((await chooseDataOnly(data)).out).toBe(`using dataset 1 (same content as ${data}): 9 training and 1 validation examples`);
    const copy = join(tmp.dir, 'copy-of-stories.jsonl');
    copyFileSync(data, copy);
    expect((await chooseDataOnly(copy)).out).toBe(`using dataset 1 (same content as ${copy}): 9 training and 1 validation examples`);
    expect(await datasetCount()).toBe(1);
    // Other content is a new dataset; a copy imported with other row options is not reused.
    const changed = join(tmp.dir, 'changed.jsonl');
    writeFileSync(changed, rows(10, '!'));
    expect((await chooseDataOnly(changed)).out).toMatch(/^imported .*changed\.jsonl as dataset 2/);
    expect((await tunesmith('data', 'import', data, '--keep-duplicates')).code).toBe(0);
    expect((await chooseDataOnly(data)).out).toMatch(/^using dataset 1 \(same content/);
    expect(await datasetCount()).toBe(3);
  });

  it('a batch larger than the training split is warned about in the run log, naming the split size', async () => {
    const r = await train(data, '--batch-size', '16', '--ignore-memory-check');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^using dataset 1 /);
    expect(r.err).toContain('warning: the batch size 16 is larger than the training split, which has 9 examples: every micro-batch repeats examples (a batch size of at most 9 avoids that)');
    expect(batchSizeWarning(9, 9)).toBeNull();
  });

  it('unusable output paths and a file as the model fail first, importing nothing', async () => {
    const before = await datasetCount();
    const aFile = join(tmp.dir, 'a-file');
    writeFileSync(aFile, 'x');
    const fresh = join(tmp.dir, 'fresh.jsonl');
    writeFileSync(fresh, rows(5, '?'));
    const under = join(aFile, 'run');
    const outUnderFile = await tunesmith('train', '--model', stories260K, '--data', fresh, '--steps', '1', '--out', under);
    expect(outUnderFile.code).toBe(1);
    expect(outUnderFile.err).toContain(`cannot write to ${under}: ${aFile} is a file, not a folder`);
    const modelIsFile = await tunesmith('train', '--model', aFile, '--data', fresh, '--steps', '1', '--out', join(tmp.dir, 'run-x'));
    expect(modelIsFile.err).toContain(`${aFile} is a file: choose the folder that holds config.json`);
    expect(await datasetCount()).toBe(before);

    const exportTo = await tunesmith('export', '--run', join(tmp.dir, 'run-0'), '--format', 'peft', '--out', aFile);
    expect(exportTo.code).toBe(1);
    expect(exportTo.err).toContain(`${aFile} is a file: choose a folder`);

    const folder = join(tmp.dir, 'a-folder');
    mkdirSync(folder);
    const rowsTo = await tunesmith('data', 'export', '1', '--out', folder);
    expect(rowsTo.code).toBe(1);
    expect(rowsTo.err).toContain(`${folder} is a folder: choose a file`);
  });
});
