// What a killed writer leaves behind — `.tmp` files in the output folder, a `.<name>.partial-<pid>`
// staging folder beside it — does not block the next write to the same folder: merged and PEFT
// exports, and a run's own model folder. A folder holding real files is still refused.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packagePath } from '../../../main/paths.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { tempHome } from '../../helpers/temp-home.js';

const tmp = tempHome();
afterAll(() => tmp.cleanup());

function tunesmith(...args: string[]) {
  const r = spawnSync(process.execPath, [packagePath('bin', 'tunesmith.js'), '--home', join(tmp.dir, 'home'), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The id of a process that has exited: what a killed export's staging folder is named after. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

/** Leaves what an export killed mid-write leaves: a `.tmp` in the folder and a staging folder beside it. */
function leaveKilledWrite(out: string): string {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'model.safetensors.tmp'), 'half a file');
  const staging = join(dirname(out), `.${out.split('/').at(-1)}.partial-${deadPid()}`);
  mkdirSync(staging);
  writeFileSync(join(staging, 'adapter_model.safetensors'), 'half a file');
  return staging;
}

describe.skipIf(!haveAssets)('exports after a killed export', () => {
  const loraRun = join(tmp.dir, 'lora-run');
  beforeAll(() => {
    const data = join(tmp.dir, 'stories.jsonl');
    const rows = ['Max liked to run in the park.', 'Lily had a red ball.', 'Tom saw a big tree.', 'The sun was hot today.'];
    writeFileSync(data, rows.map((r, i) => JSON.stringify({ instruction: `Tell me story ${i}`, input: '', output: r })).join('\n') + '\n');
    const trained = tunesmith('train', '--model', stories260K, '--data', data, '--method', 'lora', '--lora-r', '2', '--steps', '2', '--threads', '1', '--out', loraRun);
    expect(trained.code, trained.stderr).toBe(0);
  });

  it('merged: the leftovers are cleared and the export written', () => {
    const out = join(tmp.dir, 'merged');
    const staging = leaveKilledWrite(out);
    const r = tunesmith('export', '--run', loraRun, '--format', 'merged', '--dtype', 'f32', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(expect.arrayContaining(['config.json', 'model.safetensors']));
    expect(readdirSync(out).filter((f) => f.includes('.tmp'))).toEqual([]);
    expect(existsSync(staging)).toBe(false);
  });

  it('PEFT: the leftovers are cleared and the export written', () => {
    const out = join(tmp.dir, 'peft');
    const staging = leaveKilledWrite(out);
    const r = tunesmith('export', '--run', loraRun, '--format', 'peft', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(existsSync(staging)).toBe(false);
  });

  it('a folder holding a real file is still refused', () => {
    const out = join(tmp.dir, 'taken');
    mkdirSync(out);
    writeFileSync(join(out, 'notes.txt'), 'mine');
    const r = tunesmith('export', '--run', loraRun, '--format', 'peft', '--out', out);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`the export folder ${out} already exists and is not empty: choose a new folder`);
    expect(readdirSync(out)).toEqual(['notes.txt']);
  });

  it("a run's model folder: a killed write's staging is cleared, and a run resumed to train longer replaces its model", () => {
    const run = join(tmp.dir, 'full-run');
    const common = ['--model', stories260K, '--dataset', '1', '--steps', '3', '--checkpoint-every', '2', '--threads', '1'];
    expect(tunesmith('train', ...common, '--out', run).code).toBe(0);
    const staging = leaveKilledWrite(join(run, 'model'));
    const longer = tunesmith('train', '--resume', run, '--steps', '5');
    expect(longer.code, longer.stderr).toBe(0);
    expect(longer.stdout).toContain(`model written to ${join(run, 'model')}`);
    expect(readdirSync(join(run, 'model'))).toContain('model.safetensors');
    expect(readdirSync(join(run, 'model')).filter((f) => f.includes('.tmp'))).toEqual([]);
    expect(existsSync(staging)).toBe(false);
  });
});
