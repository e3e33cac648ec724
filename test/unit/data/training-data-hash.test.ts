// The training data hash a checkpoint records: the same rows give the same hash whatever the
// dataset's id or name; an edited training example, or rows moved between the splits, change it;
// the validation split alone does not matter to a training run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../../db/database.js';
import { trainingDataHash } from '../../../main/data/content-hash.js';
import { importDataset } from '../../../main/data/import-dataset.js';
import { tempHome } from '../../helpers/temp-home.js';

const home = tempHome();
let db: Db;
beforeAll(() => {
  db = openDatabase(join(home.dir, 'hash.db'));
});
afterAll(() => {
  db.close();
  home.cleanup();
});

function imported(rows: string[], options: { name?: string; seed?: number } = {}): { id: number } {
  const file = join(home.dir, 'rows.jsonl');
  writeFileSync(file, rows.map((output, i) => JSON.stringify({ instruction: `Q${i}?`, input: '', output })).join('\n') + '\n');
  return { id: importDataset(db, file, { valFraction: 0.25, ...options }).dataset.id };
}

describe('trainingDataHash', () => {
  const rows = Array.from({ length: 8 }, (_, i) => `Answer ${i}.`);

  it('is the same for the same rows under another id and name, and changes with an edited training example', () => {
    const a = imported(rows);
    const b = imported(rows, { name: 'again' });
    expect(b.id).not.toBe(a.id);
    expect(trainingDataHash(db, b.id)).toBe(trainingDataHash(db, a.id));
    expect(trainingDataHash(db, a.id)).toMatch(/^[0-9a-f]{64}$/);

    const trainRow = rows.findIndex((_, i) => !isValRow(a, i));
    const edited = rows.map((r, i) => (i === trainRow ? `${r} And one more.` : r));
    expect(trainingDataHash(db, imported(edited).id)).not.toBe(trainingDataHash(db, a.id));
  });

  it('changes when the split changes, not when only a validation example does', () => {
    const a = imported(rows);
    expect(trainingDataHash(db, imported(rows, { seed: 99 }).id)).not.toBe(trainingDataHash(db, a.id));
    const valRow = rows.findIndex((_, i) => isValRow(a, i));
    const edited = rows.map((r, i) => (i === valRow ? `${r} Held out.` : r));
    expect(trainingDataHash(db, imported(edited).id)).toBe(trainingDataHash(db, a.id));
  });
});

function isValRow(d: { id: number }, position: number): boolean {
  return (db.prepare('SELECT split FROM examples WHERE dataset_id = ? AND position = ?').pluck().get(d.id, position) as string) === 'val';
}
