// run.json keeps the paths inside its run folder relative to it, so the folder can be copied or
// moved; paths outside (the base model) stay absolute. Format 1 files, all absolute, still read, with
// their paths inside the old folder rebased onto the folder they are in now.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TrainSpec } from '../../../main/api/contract.js';
import { prepareNewRunFolder, readRunSpec, runFolder } from '../../../main/train/run-folder.js';
import { tempHome } from '../../helpers/temp-home.js';

const home = tempHome();
afterAll(() => home.cleanup());

const spec = (out: string, model: string) => ({ kind: 'train', method: 'full', model, datasetId: 1, out, steps: 4 }) as TrainSpec;

describe('run.json', () => {
  it('stores paths inside the folder relative to it and reads them against where the folder is now', () => {
    const dir = join(home.dir, 'a');
    const model = join(home.dir, 'base-model');
    prepareNewRunFolder(runFolder(dir), { ...spec(dir, model), resumeFrom: join(dir, 'checkpoints', 'step-00000002.ckpt') });
    const stored = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { format: number; spec: Record<string, unknown> };
    expect(stored.format).toBe(2);
    expect(stored.spec).toMatchObject({ out: '.', model });
    expect(stored.spec).not.toHaveProperty('resumeFrom');

    const copy = join(home.dir, 'copy');
    cpSync(dir, copy, { recursive: true });
    expect(readRunSpec(runFolder(copy))).toMatchObject({ out: copy, model });
    expect(readRunSpec(runFolder(dir))).toMatchObject({ out: dir, model });
  });

  it('keeps a model folder inside the run folder relative too', () => {
    const dir = join(home.dir, 'b');
    prepareNewRunFolder(runFolder(dir), spec(dir, join(dir, 'base')));
    expect(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).spec.model).toBe('base');
    const moved = join(home.dir, 'b-moved');
    cpSync(dir, moved, { recursive: true });
    expect(readRunSpec(runFolder(moved)).model).toBe(join(moved, 'base'));
  });

  it('reads format 1 (absolute paths) from a copied folder as that folder', () => {
    const original = join(home.dir, 'old');
    const copy = join(home.dir, 'old-copy');
    mkdirSync(copy, { recursive: true });
    const model = join(home.dir, 'base-model');
    writeFileSync(join(copy, 'run.json'), JSON.stringify({ format: 1, spec: spec(original, model) }));
    expect(readRunSpec(runFolder(copy))).toMatchObject({ out: copy, model, steps: 4 });
  });

  it('names the file and what was expected when run.json is not one', () => {
    const dir = join(home.dir, 'bad');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'run.json');
    writeFileSync(file, '{ "format": 2, ');
    expect(() => readRunSpec(runFolder(dir))).toThrow(`${file}: not valid JSON`);
    writeFileSync(file, JSON.stringify({ format: 2 }));
    expect(() => readRunSpec(runFolder(dir))).toThrow(`${file}: expected a "spec" object with the run's "out" folder`);
    writeFileSync(file, JSON.stringify({ format: 9, spec: { out: '.' } }));
    expect(() => readRunSpec(runFolder(dir))).toThrow(`${file}: format 9 is not one this Tunesmith reads (1 or 2)`);
    expect(() => readRunSpec(runFolder(join(home.dir, 'none')))).toThrow(/run\.json not found: is .* a Tunesmith run folder\?/);
  });
});
